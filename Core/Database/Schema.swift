/// The schema, as SQL the migrations run. Keys follow MovieLens; secondary indexes are the
/// ones the queries need (ratings by movie, ratings by time).
enum Schema {
    static let referenceTables = """
        CREATE TABLE movies (
            movie_id integer PRIMARY KEY,
            title text NOT NULL,
            year smallint,
            genres text NOT NULL
        );
        CREATE TABLE genres (
            genre_id smallint PRIMARY KEY,
            name text NOT NULL UNIQUE
        );
        CREATE TABLE movie_genres (
            movie_id integer NOT NULL REFERENCES movies ON DELETE CASCADE,
            genre_id smallint NOT NULL REFERENCES genres,
            PRIMARY KEY (movie_id, genre_id)
        );
        CREATE INDEX movie_genres_genre_idx ON movie_genres (genre_id);
        CREATE TABLE users (
            user_id integer PRIMARY KEY,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        -- Half-star ratings on the 0.5..5 scale, timestamps in epoch seconds as in MovieLens.
        CREATE TABLE ratings (
            user_id integer NOT NULL,
            movie_id integer NOT NULL,
            rating real NOT NULL CONSTRAINT ratings_rating_scale \(ratingScaleCheck),
            "timestamp" bigint NOT NULL,
            CONSTRAINT ratings_pkey PRIMARY KEY (user_id, movie_id)
        );
        CREATE INDEX ratings_movie_idx ON ratings (movie_id);
        CREATE INDEX ratings_timestamp_idx ON ratings ("timestamp");
        -- The loader checks references itself; these hold every later write to the same rule
        -- without a 20M-row validation pass at import time.
        ALTER TABLE ratings ADD CONSTRAINT ratings_movie_fk FOREIGN KEY (movie_id) REFERENCES movies NOT VALID;
        ALTER TABLE ratings ADD CONSTRAINT ratings_user_fk FOREIGN KEY (user_id) REFERENCES users NOT VALID;
        CREATE TABLE tags (
            tag_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            user_id integer NOT NULL,
            movie_id integer NOT NULL REFERENCES movies,
            tag text NOT NULL,
            "timestamp" bigint NOT NULL
        );
        CREATE INDEX tags_movie_idx ON tags (movie_id);
        CREATE TABLE movie_tags (
            movie_id integer NOT NULL REFERENCES movies,
            tag text NOT NULL,
            tag_count integer NOT NULL,
            PRIMARY KEY (movie_id, tag)
        );
        CREATE TABLE links (
            movie_id integer PRIMARY KEY REFERENCES movies,
            imdb_id text,          -- text: IMDb ids keep their leading zeros ("0114709")
            tmdb_id integer
        );
        CREATE TABLE genome_tags (
            tag_id integer PRIMARY KEY,
            tag text NOT NULL
        );
        CREATE TABLE genome_scores (
            movie_id integer NOT NULL,
            tag_id integer NOT NULL,
            relevance real NOT NULL,
            PRIMARY KEY (movie_id, tag_id)
        );
        """

    static let systemTables = """
        CREATE TABLE imports (
            import_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            source text NOT NULL,
            dataset text,
            status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'unchanged')),
            fingerprint text,
            files jsonb NOT NULL DEFAULT '{}',
            row_counts jsonb NOT NULL DEFAULT '{}',
            rejected jsonb NOT NULL DEFAULT '{}',
            error text,
            started_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz,
            duration_seconds double precision
        );
        CREATE INDEX imports_fingerprint_idx ON imports (fingerprint) WHERE status = 'succeeded';

        -- Totals kept exact by statement triggers, so /stats is O(1) on 20M ratings.
        CREATE TABLE rating_totals (
            singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            count bigint NOT NULL,
            sum double precision NOT NULL
        );
        INSERT INTO rating_totals VALUES (true, 0, 0);

        CREATE FUNCTION rating_totals_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE rating_totals SET count = count + (SELECT count(*) FROM new_rows),
                                     sum = sum + (SELECT coalesce(sum(rating), 0) FROM new_rows);
            RETURN NULL;
        END $$;
        CREATE FUNCTION rating_totals_delete() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE rating_totals SET count = count - (SELECT count(*) FROM old_rows),
                                     sum = sum - (SELECT coalesce(sum(rating), 0) FROM old_rows);
            RETURN NULL;
        END $$;
        CREATE FUNCTION rating_totals_update() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE rating_totals SET sum = sum - (SELECT coalesce(sum(rating), 0) FROM old_rows)
                                               + (SELECT coalesce(sum(rating), 0) FROM new_rows);
            RETURN NULL;
        END $$;
        CREATE TRIGGER ratings_totals_insert AFTER INSERT ON ratings
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rating_totals_insert();
        CREATE TRIGGER ratings_totals_delete AFTER DELETE ON ratings
            REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION rating_totals_delete();
        CREATE TRIGGER ratings_totals_update AFTER UPDATE ON ratings
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rating_totals_update();
        """

    /// What MLflow holds of each run (`MLflowMirror`): NULL until a tracking server is tried.
    static let mlflowMirrorState = """
        ALTER TABLE training_runs ADD COLUMN mlflow jsonb;
        """

    static let registryTables = """
        CREATE TABLE training_runs (
            run_id text PRIMARY KEY,
            status text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
            stage text NOT NULL DEFAULT 'queued',
            progress real NOT NULL DEFAULT 0,
            eta_seconds real,
            parameters jsonb NOT NULL DEFAULT '{}',
            data jsonb,
            candidates jsonb,
            best text,
            decision jsonb,
            model_version integer,
            error text,
            created_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            finished_at timestamptz,
            duration_seconds double precision
        );
        CREATE INDEX training_runs_created_idx ON training_runs (created_at DESC);

        -- Every version is kept; an alias ("champion") points at the one predict serves.
        CREATE TABLE model_versions (
            name text NOT NULL,
            version integer NOT NULL,
            algorithm text NOT NULL,
            variant text,
            run_id text REFERENCES training_runs,
            metrics jsonb NOT NULL,
            parameters jsonb NOT NULL,
            data jsonb NOT NULL,
            artifact_bucket text NOT NULL,
            artifact_key text NOT NULL,
            artifact_size bigint NOT NULL,
            artifact_checksum text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (name, version)
        );
        CREATE SEQUENCE model_version_numbers;
        CREATE TABLE model_aliases (
            name text NOT NULL,
            alias text NOT NULL,
            version integer NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (name, alias),
            FOREIGN KEY (name, version) REFERENCES model_versions
        );
        """

    static let servingTables = """
        -- Per-movie count and sum of ratings, kept exact by statement triggers like rating_totals:
        -- popularity without a GROUP BY over every rating.
        CREATE TABLE movie_stats (
            movie_id integer PRIMARY KEY,
            count bigint NOT NULL,
            sum double precision NOT NULL
        );
        INSERT INTO movie_stats SELECT movie_id, count(*), sum(rating) FROM ratings GROUP BY movie_id;

        CREATE FUNCTION movie_stats_apply(delta_count bigint, delta_sum double precision, movie integer) RETURNS void LANGUAGE sql AS $$
            INSERT INTO movie_stats (movie_id, count, sum) VALUES (movie, delta_count, delta_sum)
            ON CONFLICT (movie_id) DO UPDATE SET count = movie_stats.count + EXCLUDED.count, sum = movie_stats.sum + EXCLUDED.sum
        $$;
        CREATE FUNCTION movie_stats_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM movie_stats_apply(count(*), sum(rating), movie_id) FROM new_rows GROUP BY movie_id;
            RETURN NULL;
        END $$;
        CREATE FUNCTION movie_stats_delete() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM movie_stats_apply(-count(*), -sum(rating), movie_id) FROM old_rows GROUP BY movie_id;
            RETURN NULL;
        END $$;
        CREATE FUNCTION movie_stats_update() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM movie_stats_apply(-count(*), -sum(rating), movie_id) FROM old_rows GROUP BY movie_id;
            PERFORM movie_stats_apply(count(*), sum(rating), movie_id) FROM new_rows GROUP BY movie_id;
            RETURN NULL;
        END $$;
        CREATE TRIGGER ratings_movie_stats_insert AFTER INSERT ON ratings
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION movie_stats_insert();
        CREATE TRIGGER ratings_movie_stats_delete AFTER DELETE ON ratings
            REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION movie_stats_delete();
        CREATE TRIGGER ratings_movie_stats_update AFTER UPDATE ON ratings
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION movie_stats_update();

        -- What predict answered, for recommendation-quality monitoring. Bounded: predict trims it.
        CREATE TABLE recommendation_log (
            log_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            created_at timestamptz NOT NULL DEFAULT now(),
            user_id integer NOT NULL,
            method text NOT NULL,
            model_version integer,
            movie_ids integer[] NOT NULL,
            scores real[] NOT NULL
        );
        CREATE INDEX recommendation_log_created_idx ON recommendation_log (created_at);
        """

    static let monitoringTables = """
        -- Per-user rating counts (user activity), kept like movie_stats.
        CREATE TABLE user_stats (
            user_id integer PRIMARY KEY,
            count bigint NOT NULL
        );
        INSERT INTO user_stats SELECT user_id, count(*) FROM ratings GROUP BY user_id;
        CREATE FUNCTION user_stats_apply(delta bigint, who integer) RETURNS void LANGUAGE sql AS $$
            INSERT INTO user_stats (user_id, count) VALUES (who, delta)
            ON CONFLICT (user_id) DO UPDATE SET count = user_stats.count + EXCLUDED.count
        $$;
        CREATE FUNCTION user_stats_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM user_stats_apply(count(*), user_id) FROM new_rows GROUP BY user_id;
            RETURN NULL;
        END $$;
        CREATE FUNCTION user_stats_delete() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM user_stats_apply(-count(*), user_id) FROM old_rows GROUP BY user_id;
            RETURN NULL;
        END $$;
        CREATE TRIGGER ratings_user_stats_insert AFTER INSERT ON ratings
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_stats_insert();
        CREATE TRIGGER ratings_user_stats_delete AFTER DELETE ON ratings
            REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION user_stats_delete();

        -- A reference window's sufficient statistics (value counts per feature), not its rows.
        CREATE TABLE drift_baselines (
            baseline_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            created_at timestamptz NOT NULL DEFAULT now(),
            window_spec jsonb NOT NULL,
            rows bigint NOT NULL,
            features jsonb NOT NULL,
            -- Ratings per movie and per user (little-endian int32 by id) when the baseline was taken.
            movie_popularity bytea NOT NULL,
            user_activity bytea NOT NULL,
            artifact_key text
        );
        CREATE TABLE drift_reports (
            report_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            created_at timestamptz NOT NULL DEFAULT now(),
            baseline_id bigint REFERENCES drift_baselines,
            drift_detected boolean NOT NULL,
            share_drifted double precision NOT NULL,
            result jsonb NOT NULL,
            report_key text
        );
        """

    static let ratingScaleCheck = "CHECK (rating BETWEEN 0.5 AND 5 AND rating * 2 = trunc(rating * 2))"

    /// The timestamp index carries the other columns, so a recent window (drift, monitoring)
    /// is read by an index-only scan. MovieLens files are ordered by user, then movie: in time
    /// order their rows are scattered over the whole table, and a million heap fetches in that
    /// order cost seconds where the index alone costs a fraction of one. The import's COPY
    /// FREEZE leaves every page all-visible, which is what lets the scan skip the table.
    static let ratingsTimestampIndex = #"CREATE INDEX ratings_timestamp_idx ON ratings ("timestamp") INCLUDE (user_id, movie_id, rating)"#
    static let coveringTimestampIndex = """
        DROP INDEX ratings_timestamp_idx;
        \(ratingsTimestampIndex);
        """
}
