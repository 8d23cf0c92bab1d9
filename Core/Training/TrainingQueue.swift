/// Runs started over HTTP: recorded as queued and handed to the train function itself as an
/// Event invocation, so `POST /training/` answers 202 at once on AWS as in the local runner (an
/// HTTP API waits at most 30 s for its integration, and a run takes minutes).
public struct TrainingQueue {
    let database: Database

    public init(database: Database) { self.database = database }

    /// A queued run whose Event has not started by then was lost (Lambda keeps an event for up
    /// to six hours, but the template caps its age at 15 minutes, with no retries).
    static let queuedLifetime = "15 minutes"

    /// Records `runID` as queued, or refuses at once, naming the run that is active.
    public func enqueue(runID: String, request: JSONValue) throws(FunctionError) {
        try database.transaction { () throws(FunctionError) in
            // Submitters one at a time, so two requests cannot both find the queue empty.
            try database.advisoryTransactionLock(Migrations.LockKey.trainingQueue)
            let active = try database.execute("""
                SELECT run_id, status, created_at > now() - interval '\(Self.queuedLifetime)' FROM training_runs
                WHERE status IN ('queued', 'running') ORDER BY created_at DESC LIMIT 1
                """)
            if let id = active.string(0, 0) {
                let status = active.string(0, 1) ?? "active"
                let isActive: Bool
                if status == "running" {
                    // A running run holds the training lock; if it is free, that process died.
                    isActive = try !database.tryAdvisoryLock(Migrations.LockKey.training)
                    if !isActive { try database.advisoryUnlock(Migrations.LockKey.training) }
                } else {
                    isActive = active.bool(0, 2) ?? false
                }
                if isActive {
                    throw FunctionError.conflict("a training run is already \(status) (run \(id)); one runs at a time",
                                                 details: ["run_id": .string(id), "status": .string(status),
                                                           "status_url": .string("/training/status?run_id=\(id)")])
                }
                try database.execute("""
                    UPDATE training_runs SET status = 'failed', finished_at = now(),
                           error = 'abandoned: the training process ended before finishing; the champion was not changed'
                    WHERE status IN ('queued', 'running')
                    """)
            }
            try database.execute("INSERT INTO training_runs (run_id, status, stage, parameters) VALUES ($1, 'queued', 'queued', $2::jsonb)",
                                 [runID, request])
        }
    }

    /// A queued run that could not be handed over is failed with the reason, so it blocks nothing.
    public func fail(runID: String, reason: String) {
        _ = try? database.execute("UPDATE training_runs SET status = 'failed', error = $2, finished_at = now() WHERE run_id = $1 AND status = 'queued'",
                                  [runID, reason])
    }

    /// The request a queued run was submitted with.
    public func queuedRequest(runID: String) throws(FunctionError) -> JSONValue {
        let found = try database.execute("SELECT status, parameters::text FROM training_runs WHERE run_id = $1", [runID])
        guard found.count == 1 else { throw FunctionError.notFound("no training run '\(runID)'") }
        guard found.string(0, 0) == "queued" else {
            throw FunctionError.conflict("run \(runID) is \(found.string(0, 0) ?? "unknown"), not queued", details: ["run_id": .string(runID)])
        }
        return (try? JSONDecoder().decode(JSONValue.self, from: Data((found.string(0, 1) ?? "{}").utf8))) ?? .object([:])
    }
}
