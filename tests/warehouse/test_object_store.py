"""Landing and quarantine on S3: the pipeline's own steps against a real S3 API (moto's server on loopback).

Nothing here mocks a client: s3fs signs and sends HTTP requests to moto's server, which
checks the signatures against an IAM user's key, as AWS S3 and MinIO do.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import s3fs

from ingest_helpers import make_tree
from halfsky.orchestration import pipeline
from halfsky.ingest.reading.landing import Landing
from halfsky.config.object_store import ObjectStoreError, filesystem, storage_options
from halfsky.contract.periods import SHANGHAI
from halfsky.ingest.quarantine import store

BUCKET = "halfsky-landing"
LANDING, QUARANTINE = f"s3://{BUCKET}/landing", f"s3://{BUCKET}/quarantine"
CONN_VAR = "AIRFLOW_CONN_HALFSKY_OBJECT_STORE"
# Rejected by path, by file and by row, as xlsx, json, docx and csv folders (test_ingest covers every rule).
INVALID_KINDS = "unknown_prefecture,future_period,unreadable,unknown_format,expands_too_large,missing_column,undecodable,required,code_list,min_value"


def _moto_auth(endpoint: str, unauthenticated_requests: str) -> None:
    """moto answers anything until told how many requests may go unchecked; after those it checks signatures."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=unauthenticated_requests.encode(),
                                     method="POST", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def _connection_uri(endpoint: str, key: str, secret: str) -> str:
    return f"aws://{quote(key, safe='')}:{quote(secret, safe='')}@/?endpoint_url={quote(endpoint, safe='')}&region_name=us-east-1"


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 and IAM on 127.0.0.1 and a free port; a bucket, and one user whose key may use it."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    setup = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
    iam = boto3.client("iam", **setup)
    iam.create_user(UserName="halfsky-loader")
    iam.put_user_policy(UserName="halfsky-loader", PolicyName="landing-and-quarantine", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject", "s3:PutObject"],
                       "Resource": ["arn:aws:s3:::halfsky-*", "arn:aws:s3:::halfsky-*/*"]}]}))
    key = iam.create_access_key(UserName="halfsky-loader")["AccessKey"]
    boto3.client("s3", **setup).create_bucket(Bucket=BUCKET)
    _moto_auth(endpoint, "0")  # from here on, every request must be signed with the loader's key
    try:
        yield {"endpoint": endpoint, "key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    finally:
        _moto_auth(endpoint, "inf")
        server.stop()


@pytest.fixture(scope="module")
def object_store_connection(s3_server):
    """The connection an admin would define, as Airflow reads it from the environment."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CONN_VAR, _connection_uri(s3_server["endpoint"], s3_server["key"], s3_server["secret"]))
        mp.delenv("AIRFLOW_VAR_OBJECT_STORE_CONN_ID", raising=False)
        yield mp


def _bucket(s3_server) -> s3fs.S3FileSystem:
    """A client of our own for the test's uploads and checks, independent of halfsky.config.object_store."""
    return s3fs.S3FileSystem(key=s3_server["key"], secret=s3_server["secret"], endpoint_url=s3_server["endpoint"],
                             client_kwargs={"region_name": "us-east-1"}, skip_instance_cache=True)


@pytest.fixture(scope="module")
def fresh_warehouse(fresh_database):
    """Separate databases: the same drop paths are loaded from S3 and from a folder, each into its own."""
    with contextlib.ExitStack() as made:
        yield lambda label: made.enter_context(fresh_database(f"s3_{label}", schema=True))


def _run(dsn: str, landing: str, quarantine: str, as_of: datetime, run_id: str) -> None:
    for batch in pipeline.discover_drops(as_of, dsn=dsn, landing=landing):
        pipeline.ingest_prefecture(batch, as_of, run_id=run_id, dsn=dsn, landing=landing, quarantine=quarantine)


def _log(dsn: str) -> dict[str, dict]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("select drop_path, status, reasons, quarantine_path, sha256, size_bytes from ingest.submissions").fetchall()
    return {path: {"status": status, "rules": sorted((r["rule"], r["severity"]) for r in reasons or []),
                   "quarantine": quarantine, "sha256": sha, "size": size}
            for path, status, reasons, quarantine, sha, size in rows}


@pytest.fixture(scope="module")
def loaded(s3_server, object_store_connection, fresh_warehouse, tmp_path_factory):
    """One generated tree, uploaded to S3 and also kept in a folder with the upload times, each run through the pipeline."""
    base = tmp_path_factory.mktemp("object_store")
    # S3 stamps an object with its upload time: the run judges as of an hour from now, and so does the generator.
    as_of = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=1)
    root, truth = make_tree(base, "--prefectures", "2", "--months", "1", "--first-period", "2026-08", "--rows", "8",
                            "--no-annual", "--invalid", INVALID_KINDS, "--duplicates", "1", "--resubmissions", "1", "--seed", "11",
                            "--as-of", as_of.astimezone(SHANGHAI).replace(tzinfo=None).isoformat())
    bucket = _bucket(s3_server)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):  # put_file: the key may not create buckets
        bucket.put_file(str(path), f"{BUCKET}/landing/{path.relative_to(root).as_posix()}")
    for key, info in bucket.find(f"{BUCKET}/landing", detail=True).items():  # the folder gets the objects' times
        stamp = info["LastModified"].timestamp()
        os.utime(root / Path(key).relative_to(f"{BUCKET}/landing"), (stamp, stamp))

    s3_dsn, local_dsn = fresh_warehouse("s3"), fresh_warehouse("local")
    _run(s3_dsn, LANDING, QUARANTINE, as_of, "s3-run")
    _run(local_dsn, str(root), str(base / "quarantine"), as_of, "local-run")
    return {"root": root, "truth": truth, "as_of": as_of, "s3_dsn": s3_dsn, "s3": _log(s3_dsn), "local": _log(local_dsn)}


def test_drops_on_s3_get_the_same_verdicts_as_from_a_folder(loaded):
    s3, local = loaded["s3"], loaded["local"]
    assert set(s3) == {d["path"] for d in loaded["truth"]["drops"]}
    assert {p: e["status"] for p, e in s3.items()} == {d["path"]: d["expected_status"] for d in loaded["truth"]["drops"]}
    for path in local:
        assert (s3[path]["status"], s3[path]["rules"], s3[path]["sha256"], s3[path]["size"]) == (
            local[path]["status"], local[path]["rules"], local[path]["sha256"], local[path]["size"]), path
    for drop in loaded["truth"]["drops"]:
        if drop["expected_rule"]:
            assert (drop["expected_rule"], "error") in s3[drop["path"]]["rules"], drop["path"]
    statuses = [e["status"] for e in s3.values()]
    assert statuses.count("rejected") == len(INVALID_KINDS.split(",")) and statuses.count("accepted") == 2


def test_rejected_drops_and_their_reports_are_quarantined_on_s3(loaded, s3_server):
    bucket = _bucket(s3_server)
    rejected = {p: e for p, e in loaded["s3"].items() if e["status"] == "rejected"}
    for path, entry in rejected.items():
        unit, period, name = path.split("/")
        assert entry["quarantine"].startswith(f"{QUARANTINE}/{unit}/{period}/"), entry["quarantine"]
        folder = entry["quarantine"].removeprefix("s3://")
        assert {"report.html", "report.csv", "report.json"} <= {Path(k).name for k in bucket.ls(folder)}
        assert "Rejected" in bucket.cat_file(f"{folder}/report.html").decode("utf-8")
        original = loaded["root"] / path
        copy = f"{folder}/drop/{name}"
        if original.is_dir():
            files = sorted(p.relative_to(original).as_posix() for p in original.rglob("*") if p.is_file())
            assert sorted(Path(k).relative_to(copy).as_posix() for k in bucket.find(copy)) == files
            for rel in files:
                assert bucket.cat_file(f"{copy}/{rel}") == (original / rel).read_bytes()
        else:
            assert bucket.cat_file(copy) == original.read_bytes()


def test_a_drop_landing_between_runs_is_seen_by_the_next_run(loaded, s3_server):
    bucket = _bucket(s3_server)
    loaded_xlsx = next(p for p, e in loaded["s3"].items() if e["status"] in ("accepted", "superseded") and p.endswith(".xlsx"))
    resent = loaded_xlsx.replace(".xlsx", "_resent.xlsx")
    assert resent not in {d.path for d in Landing(LANDING).list_drops()}  # listed (and cached) before it lands
    bucket.pipe_file(f"{BUCKET}/landing/{resent}", (loaded["root"] / loaded_xlsx).read_bytes())
    _run(loaded["s3_dsn"], LANDING, QUARANTINE, loaded["as_of"], "second-run")
    assert _log(loaded["s3_dsn"])[resent]["status"] == "duplicate"  # found, hashed and matched to the first


def test_a_wrong_secret_fails_clearly_naming_the_connection(s3_server, object_store_connection, fresh_warehouse):
    dsn = fresh_warehouse("denied")
    as_of = datetime.now(timezone.utc)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CONN_VAR, _connection_uri(s3_server["endpoint"], s3_server["key"], "not-the-secret"))
        with pytest.raises(ObjectStoreError) as denied:
            pipeline.discover_drops(as_of, dsn=dsn, landing=LANDING)
        with pytest.raises(ObjectStoreError) as not_stored:
            store(Path(__file__), f"{QUARANTINE}/probe/{Path(__file__).name}")
    for error in (denied.value, not_stored.value):
        message = str(error)
        assert "Airflow connection 'halfsky_object_store'" in message and "SignatureDoesNotMatch" in message
        assert "not-the-secret" not in message and s3_server["secret"] not in message
        assert error.__suppress_context__ and error.__cause__ is None  # no botocore stack under it
    with pytest.raises(ObjectStoreError, match="bucket does not exist"):
        pipeline.discover_drops(as_of, dsn=dsn, landing="s3://halfsky-misspelt/landing")


MINIO = {"key": "minio-key", "secret": "minio/secret+", "endpoint_url": "http://127.0.0.1:9",
         "client_kwargs": {"region_name": "eu-west-1"}, "config_kwargs": {"s3": {"addressing_style": "path"}}}


@pytest.mark.parametrize("airflow", ["airflow", "no airflow"])
@pytest.mark.parametrize("spelling", [
    json.dumps({"conn_type": "aws", "login": "minio-key", "password": "minio/secret+", "extra": {
        "endpoint_url": "http://127.0.0.1:9", "region_name": "eu-west-1", "config_kwargs": {"s3": {"addressing_style": "path"}}}}),
    "aws://minio-key:minio%2Fsecret%2B@/?endpoint_url=http%3A%2F%2F127.0.0.1%3A9&region_name=eu-west-1"
    "&config_kwargs=%7B%22s3%22%3A+%7B%22addressing_style%22%3A+%22path%22%7D%7D",
], ids=["json", "uri"])
def test_a_connection_named_by_the_variable_in_either_spelling(object_store_connection, monkeypatch, spelling, airflow):
    if airflow == "no airflow":  # a command-line tool where airflow.sdk cannot be imported reads the variable itself
        monkeypatch.setitem(sys.modules, "airflow.sdk", None)
    monkeypatch.setenv("AIRFLOW_VAR_OBJECT_STORE_CONN_ID", "minio")
    monkeypatch.setenv("AIRFLOW_CONN_MINIO", spelling)
    assert storage_options(LANDING) == MINIO
    fs, root = filesystem(LANDING)
    assert root == f"{BUCKET}/landing" and fs.endpoint_url == "http://127.0.0.1:9"


def test_local_paths_take_no_options(object_store_connection):
    assert storage_options("/srv/landing") == {} and storage_options("file:///srv/landing") == {}


def test_folder_drops_of_the_same_name_are_fetched_apart_and_folder_markers_are_no_drops(s3_server, object_store_connection,
                                                                                         tmp_path):
    bucket = _bucket(s3_server)
    prefix = f"{BUCKET}/markers/150100"
    for period, files in (("2026-08", {"a.csv": b"1"}), ("2026-09", {"b.csv": b"2"})):
        bucket.pipe_file(f"{prefix}/{period}/", b"")  # the empty key a console's "create folder" leaves
        for name, data in files.items():
            bucket.pipe_file(f"{prefix}/{period}/report/{name}", data)
    bucket.pipe_file(f"{prefix}/2026-09/report/", b"")
    landing = Landing(f"s3://{BUCKET}/markers")
    drops = list(landing.list_drops())
    assert [(d.path, d.is_dir, d.size) for d in drops] == [("150100/2026-08/report", True, 1), ("150100/2026-09/report", True, 1)]
    downloaded = Landing(str(_download(bucket, f"{BUCKET}/markers", tmp_path / "copy")))
    assert landing.sha256(drops[1]) == downloaded.sha256(downloaded.get("150100/2026-09/report"))
    first = landing.local_copy(drops[0], tmp_path / "scratch")
    assert sorted(p.name for p in first.iterdir()) == ["a.csv"]
    second = landing.local_copy(drops[1], tmp_path / "scratch")
    assert sorted(p.name for p in second.iterdir()) == ["b.csv"]  # not nested in, nor mixed with, the first


def _download(bucket: s3fs.S3FileSystem, prefix: str, target: Path) -> Path:
    for key in bucket.find(prefix):
        if not key.endswith("/"):
            (target / Path(key).relative_to(prefix)).parent.mkdir(parents=True, exist_ok=True)
            bucket.get_file(key, str(target / Path(key).relative_to(prefix)))
    return target
