import Foundation
import Testing
@testable import RunnerKit

/// boto3 scripts against the server, as subprocesses. Each script prints `OK` at its end;
/// a failing assertion prints its traceback.
@Suite(.serialized) struct S3Boto3Tests {
    static let available = (try? runProcess(["python3", "-c", "import boto3"], environment: ProcessInfo.processInfo.environment).status) == 0

    /// Shared start of every script: a client from the environment the fixture sets.
    static let prelude = """
        import base64, hashlib, os, sys, zlib, urllib.request, urllib.error
        import boto3, botocore
        from botocore.config import Config
        def client(secret=None, **config):
            return boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"], region_name="us-east-1",
                                aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                                aws_secret_access_key=secret or os.environ["AWS_SECRET_ACCESS_KEY"],
                                config=Config(**config))
        def code(call):
            try:
                call()
            except botocore.exceptions.ClientError as error:
                return error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]
            return None
        s3 = client()

        """

    func python(_ fixture: S3Fixture, _ script: String) throws -> ProcessResult {
        try runProcess(["python3", "-"], environment: fixture.environment(), input: Self.prelude + script)
    }

    @Test(.enabled(if: available)) func boto3ObjectsMetadataChecksumsRangesCopiesAndPages() throws {
        let fixture = try S3Fixture()
        let result = try python(fixture, """
            s3.create_bucket(Bucket="py-bucket")
            body = b"0123456789" * 100
            crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
            put = s3.put_object(Bucket="py-bucket", Key="docs/report one+ü.txt", Body=body, ContentType="text/plain",
                                Metadata={"Owner": "runner", "stage": "test"}, ChecksumAlgorithm="CRC32")
            assert put["ETag"] == '"%s"' % hashlib.md5(body).hexdigest(), put["ETag"]
            assert put["ChecksumCRC32"] == crc, (put.get("ChecksumCRC32"), crc)

            head = s3.head_object(Bucket="py-bucket", Key="docs/report one+ü.txt", ChecksumMode="ENABLED")
            assert head["ContentLength"] == 1000 and head["ContentType"] == "text/plain", head
            assert head["Metadata"] == {"owner": "runner", "stage": "test"}, head["Metadata"]
            assert head["ChecksumCRC32"] == crc
            assert head["LastModified"].year >= 2024

            whole = s3.get_object(Bucket="py-bucket", Key="docs/report one+ü.txt", ChecksumMode="ENABLED")
            assert whole["Body"].read() == body and whole["ChecksumCRC32"] == crc
            part = s3.get_object(Bucket="py-bucket", Key="docs/report one+ü.txt", Range="bytes=10-19")
            assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
            assert part["ContentRange"] == "bytes 10-19/1000", part["ContentRange"]
            assert part["Body"].read() == b"0123456789"
            tail = s3.get_object(Bucket="py-bucket", Key="docs/report one+ü.txt", Range="bytes=-3")
            assert tail["Body"].read() == b"789" and tail["ContentRange"] == "bytes 997-999/1000"
            assert code(lambda: s3.get_object(Bucket="py-bucket", Key="docs/report one+ü.txt", Range="bytes=5000-")) == ("InvalidRange", 416)

            copied = s3.copy_object(Bucket="py-bucket", Key="copies/one.txt", CopySource={"Bucket": "py-bucket", "Key": "docs/report one+ü.txt"})
            assert copied["CopyObjectResult"]["ETag"] == put["ETag"]
            copy = s3.get_object(Bucket="py-bucket", Key="copies/one.txt")
            assert copy["Body"].read() == body and copy["Metadata"]["owner"] == "runner" and copy["ContentType"] == "text/plain"
            s3.copy_object(Bucket="py-bucket", Key="copies/two.txt", CopySource="py-bucket/docs/report one+ü.txt",
                           MetadataDirective="REPLACE", Metadata={"new": "yes"}, ContentType="application/x-test")
            replaced = s3.head_object(Bucket="py-bucket", Key="copies/two.txt")
            assert replaced["Metadata"] == {"new": "yes"} and replaced["ContentType"] == "application/x-test"

            for index in range(5):
                s3.put_object(Bucket="py-bucket", Key="page/key %d é" % index, Body=b"x" * index)
            pages = []
            token = None
            while True:
                args = dict(Bucket="py-bucket", Prefix="page/", MaxKeys=2)
                if token:
                    args["ContinuationToken"] = token
                page = s3.list_objects_v2(**args)
                pages.append([item["Key"] for item in page.get("Contents", [])])
                assert page["KeyCount"] == len(pages[-1])
                if not page["IsTruncated"]:
                    break
                token = page["NextContinuationToken"]
            assert pages == [["page/key 0 é", "page/key 1 é"], ["page/key 2 é", "page/key 3 é"], ["page/key 4 é"]], pages
            after = s3.list_objects_v2(Bucket="py-bucket", Prefix="page/", StartAfter="page/key 2 é")
            assert [item["Key"] for item in after["Contents"]] == ["page/key 3 é", "page/key 4 é"]
            paginated = [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="py-bucket", PaginationConfig={"PageSize": 3}) for item in page.get("Contents", [])]
            assert len(paginated) == 8 and paginated == sorted(paginated, key=lambda k: k.encode()), paginated

            s3.delete_object(Bucket="py-bucket", Key="copies/one.txt")
            assert code(lambda: s3.head_object(Bucket="py-bucket", Key="copies/one.txt")) == ("404", 404)
            assert code(lambda: s3.get_object(Bucket="py-bucket", Key="copies/one.txt")) == ("NoSuchKey", 404)
            assert code(lambda: s3.get_object(Bucket="no-such-bucket", Key="x")) == ("NoSuchBucket", 404)
            assert code(lambda: s3.create_bucket(Bucket="py-bucket")) == ("BucketAlreadyOwnedByYou", 409)
            assert code(lambda: s3.delete_bucket(Bucket="py-bucket")) == ("BucketNotEmpty", 409)
            once = client(retries={"total_max_attempts": 1})  # botocore retries BadDigest, as for a corrupted upload
            assert code(lambda: once.put_object(Bucket="py-bucket", Key="bad", Body=b"abc", ChecksumCRC32="AAAAAA==")) == ("BadDigest", 400)
            assert code(lambda: once.put_object(Bucket="py-bucket", Key="bad", Body=b"abc", ContentMD5="AAAAAAAAAAAAAAAAAAAAAA==")) == ("BadDigest", 400)

            try:  # boto3 presigns S3 with Signature Version 2 unless told otherwise: refused, and said why
                urllib.request.urlopen(s3.generate_presigned_url("get_object", Params={"Bucket": "py-bucket", "Key": "docs/report one+ü.txt"}))
                raise AssertionError("a SigV2 presigned URL was accepted")
            except urllib.error.HTTPError as error:
                assert error.code == 400 and b"Signature Version 2" in error.read()
            s3 = client(signature_version="s3v4")
            url = s3.generate_presigned_url("get_object", Params={"Bucket": "py-bucket", "Key": "docs/report one+ü.txt"}, ExpiresIn=60)
            assert urllib.request.urlopen(url).read() == body
            try:
                urllib.request.urlopen(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"))
                raise AssertionError("a tampered presigned URL was accepted")
            except urllib.error.HTTPError as error:
                assert error.code == 403 and b"SignatureDoesNotMatch" in error.read()
            print("OK")
            """)
        #expect(result.stdout.contains("OK"), "\(result.stdout)\n\(result.stderr)")
    }

    @Test(.enabled(if: available)) func boto3MultipartCompleteAbortAndList() throws {
        let fixture = try S3Fixture()
        let result = try python(fixture, """
            s3.create_bucket(Bucket="mp-bucket")
            first, second = os.urandom(5 * 1024 * 1024), os.urandom(1234)
            upload = s3.create_multipart_upload(Bucket="mp-bucket", Key="big/object.bin", ContentType="application/x-big",
                                                Metadata={"kind": "multipart"}, ChecksumAlgorithm="CRC32")
            uid = upload["UploadId"]
            listed = s3.list_multipart_uploads(Bucket="mp-bucket")
            assert [u["UploadId"] for u in listed["Uploads"]] == [uid]
            p1 = s3.upload_part(Bucket="mp-bucket", Key="big/object.bin", UploadId=uid, PartNumber=1, Body=first, ChecksumAlgorithm="CRC32")
            p2 = s3.upload_part(Bucket="mp-bucket", Key="big/object.bin", UploadId=uid, PartNumber=2, Body=second, ChecksumAlgorithm="CRC32")
            parts = s3.list_parts(Bucket="mp-bucket", Key="big/object.bin", UploadId=uid)["Parts"]
            assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, len(first)), (2, len(second))], parts
            wrong_order = [{"PartNumber": 2, "ETag": p2["ETag"]}, {"PartNumber": 1, "ETag": p1["ETag"]}]
            assert code(lambda: s3.complete_multipart_upload(Bucket="mp-bucket", Key="big/object.bin", UploadId=uid,
                                                             MultipartUpload={"Parts": wrong_order})) == ("InvalidPartOrder", 400)
            bad_etag = [{"PartNumber": 1, "ETag": '"0000"'}, {"PartNumber": 2, "ETag": p2["ETag"]}]
            assert code(lambda: s3.complete_multipart_upload(Bucket="mp-bucket", Key="big/object.bin", UploadId=uid,
                                                             MultipartUpload={"Parts": bad_etag})) == ("InvalidPart", 400)
            done = s3.complete_multipart_upload(Bucket="mp-bucket", Key="big/object.bin", UploadId=uid, MultipartUpload={"Parts": [
                {"PartNumber": 1, "ETag": p1["ETag"], "ChecksumCRC32": p1["ChecksumCRC32"]},
                {"PartNumber": 2, "ETag": p2["ETag"], "ChecksumCRC32": p2["ChecksumCRC32"]}]})
            expected = hashlib.md5(hashlib.md5(first).digest() + hashlib.md5(second).digest()).hexdigest() + "-2"
            assert done["ETag"] == '"%s"' % expected, (done["ETag"], expected)
            composite = base64.b64encode(zlib.crc32(base64.b64decode(p1["ChecksumCRC32"]) + base64.b64decode(p2["ChecksumCRC32"])).to_bytes(4, "big")).decode() + "-2"
            assert done["ChecksumCRC32"] == composite, (done.get("ChecksumCRC32"), composite)
            got = s3.get_object(Bucket="mp-bucket", Key="big/object.bin", ChecksumMode="ENABLED")
            assert got["Body"].read() == first + second and got["ContentType"] == "application/x-big" and got["Metadata"] == {"kind": "multipart"}
            assert got["ETag"] == done["ETag"]
            assert code(lambda: s3.list_parts(Bucket="mp-bucket", Key="big/object.bin", UploadId=uid)) == ("NoSuchUpload", 404)

            aborted = s3.create_multipart_upload(Bucket="mp-bucket", Key="gone.bin")["UploadId"]
            s3.upload_part(Bucket="mp-bucket", Key="gone.bin", UploadId=aborted, PartNumber=1, Body=b"abc")
            s3.abort_multipart_upload(Bucket="mp-bucket", Key="gone.bin", UploadId=aborted)
            assert code(lambda: s3.list_parts(Bucket="mp-bucket", Key="gone.bin", UploadId=aborted)) == ("NoSuchUpload", 404)
            assert code(lambda: s3.upload_part(Bucket="mp-bucket", Key="gone.bin", UploadId=aborted, PartNumber=2, Body=b"x")) == ("NoSuchUpload", 404)
            assert s3.list_multipart_uploads(Bucket="mp-bucket").get("Uploads", []) == []
            assert code(lambda: s3.head_object(Bucket="mp-bucket", Key="gone.bin")) == ("404", 404)
            s3.delete_object(Bucket="mp-bucket", Key="big/object.bin")
            s3.delete_bucket(Bucket="mp-bucket")
            assert "mp-bucket" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
            print("OK")
            """)
        #expect(result.stdout.contains("OK"), "\(result.stdout)\n\(result.stderr)")
    }

    /// botocore sends `STREAMING-UNSIGNED-PAYLOAD-TRAILER` (aws-chunked with a trailing CRC32)
    /// only over https; the script makes it believe the endpoint is https so that the real
    /// encoder runs over http. Also UNSIGNED-PAYLOAD (payload signing off).
    @Test(.enabled(if: available)) func boto3TrailerChecksumsAndUnsignedPayloads() throws {
        let fixture = try S3Fixture()
        let result = try python(fixture, """
            import botocore.httpchecksum as httpchecksum
            from urllib.parse import urlparse
            seen = []
            def record(request, **kwargs):
                text = lambda name: (lambda value: value.decode() if isinstance(value, bytes) else value)(request.headers.get(name))
                seen.append((text("X-Amz-Content-SHA256"), text("Content-Encoding"), text("X-Amz-Trailer")))
            s3.create_bucket(Bucket="trailer-bucket")
            httpchecksum.urlparse = lambda url: urlparse(url.replace("http://", "https://", 1))
            streaming = client()
            streaming.meta.events.register("before-send.s3.PutObject", record)
            streaming.meta.events.register("before-send.s3.UploadPart", record)
            body = os.urandom(3 * 1024 * 1024 + 17)
            put = streaming.put_object(Bucket="trailer-bucket", Key="t.bin", Body=body, ChecksumAlgorithm="CRC32")
            assert seen[-1][0] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER" and seen[-1][2] == "x-amz-checksum-crc32", seen
            assert put["ChecksumCRC32"] == base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
            assert s3.get_object(Bucket="trailer-bucket", Key="t.bin")["Body"].read() == body
            head = s3.head_object(Bucket="trailer-bucket", Key="t.bin")
            assert "ContentEncoding" not in head, head
            uid = streaming.create_multipart_upload(Bucket="trailer-bucket", Key="m.bin", ChecksumAlgorithm="CRC32")["UploadId"]
            part = streaming.upload_part(Bucket="trailer-bucket", Key="m.bin", UploadId=uid, PartNumber=1, Body=body, ChecksumAlgorithm="CRC32")
            assert seen[-1][0] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER", seen
            streaming.complete_multipart_upload(Bucket="trailer-bucket", Key="m.bin", UploadId=uid,
                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"], "ChecksumCRC32": part["ChecksumCRC32"]}]})
            assert s3.get_object(Bucket="trailer-bucket", Key="m.bin")["Body"].read() == body

            unsigned = client(s3={"payload_signing_enabled": False})
            unsigned.meta.events.register("before-send.s3.PutObject", record)
            httpchecksum.urlparse = urlparse
            unsigned.put_object(Bucket="trailer-bucket", Key="u.txt", Body=b"unsigned body")
            assert seen[-1][0] == "UNSIGNED-PAYLOAD", seen
            assert s3.get_object(Bucket="trailer-bucket", Key="u.txt")["Body"].read() == b"unsigned body"
            print("OK")
            """)
        #expect(result.stdout.contains("OK"), "\(result.stdout)\n\(result.stderr)")
    }

    @Test(.enabled(if: available)) func boto3WrongSecretAndDotDotKeys() throws {
        let fixture = try S3Fixture()
        let result = try python(fixture, """
            s3.create_bucket(Bucket="safe-bucket")
            wrong = client(secret="not-the-secret-" + os.urandom(8).hex())
            assert code(lambda: wrong.list_objects_v2(Bucket="safe-bucket")) == ("SignatureDoesNotMatch", 403)
            assert code(lambda: wrong.put_object(Bucket="safe-bucket", Key="x", Body=b"x")) == ("SignatureDoesNotMatch", 403)
            unknown = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"], region_name="us-east-1",
                                   aws_access_key_id="LRUNKNOWN" + os.urandom(4).hex().upper(), aws_secret_access_key=os.urandom(16).hex())
            assert code(lambda: unknown.list_buckets()) == ("InvalidAccessKeyId", 403)
            results = {}
            for key in ["../../escape.txt", "../escape-too", "a/../../../b", "./dot/./x", "/leading", "sp ace/ü/空"]:
                outcome = code(lambda: s3.put_object(Bucket="safe-bucket", Key=key, Body=key.encode()))
                if outcome is None:
                    got = s3.get_object(Bucket="safe-bucket", Key=key)["Body"].read()
                    results[key] = got
                else:
                    assert outcome[0] in ("InvalidArgument", "KeyTooLongError"), outcome
            keys = [item["Key"] for item in s3.list_objects_v2(Bucket="safe-bucket")["Contents"]]
            for key, got in results.items():
                assert got == key.encode(), (key, got)
            print("KEYS", keys)
            print("OK")
            """)
        #expect(result.stdout.contains("OK"), "\(result.stdout)\n\(result.stderr)")
        #expect(fixture.pathsOutsideRoot().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: fixture.parent.appendingPathComponent("escape.txt").path))
    }
}
