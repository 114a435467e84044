"""The request-counting S3 server: classification of S3 requests and counting per announced phase."""
import json

from bench.s3count import Counting, classify


def test_classify_path_style_requests():
    assert classify("GET", "/", "", {}) == "LIST"
    assert classify("GET", "/bkt", "list-type=2&prefix=a%2F", {}) == "LIST"
    assert classify("GET", "/bkt/", "", {}) == "LIST"
    assert classify("GET", "/bkt/a/b.parquet", "", {"range": "bytes=0-9"}) == "GET"
    assert classify("HEAD", "/bkt/a/b.parquet", "", {}) == "HEAD"
    assert classify("PUT", "/bkt/a", "", {}) == "PUT"
    assert classify("PUT", "/bkt/a", "", {"x-amz-copy-source": "/bkt/b"}) == "COPY"
    assert classify("PUT", "/bkt/a", "partNumber=1&uploadId=x", {}) == "PUT"
    assert classify("POST", "/bkt/a", "uploads=", {}) == "POST"
    assert classify("POST", "/bkt", "delete=", {}) == "DELETE"
    assert classify("DELETE", "/bkt/a", "", {}) == "DELETE"


def _call(app, method, path, query="", body=b""):
    env = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "CONTENT_LENGTH": str(len(body))}
    status = []
    out = b"".join(app(env, lambda s, h, e=None: status.append((s, h))))
    return status[0][0], out


def test_counts_land_in_the_announced_phase():
    def backend(environ, start_response):
        start_response("200 OK", [("Content-Length", "5")])
        return [b"hello"]

    app = Counting(backend)
    _call(app, "PUT", "/bkt/x", body=b"abc")
    _call(app, "GET", "/__count/phase", "name=read")
    _call(app, "GET", "/bkt/x")
    _call(app, "HEAD", "/bkt/x")
    _call(app, "GET", "/bkt", "list-type=2")
    status, body = _call(app, "GET", "/__count/counts")
    c = json.loads(body)
    assert status.startswith("200")
    assert c["setup"] == {"PUT": 1} and c["read"] == {"GET": 1, "HEAD": 1, "LIST": 1}
    assert c["_bytes"]["setup"]["in"] == 3 and c["_bytes"]["read"]["out"] == 5
    _call(app, "GET", "/__count/reset")
    assert json.loads(_call(app, "GET", "/__count/counts")[1])["_phase"] == "setup"


def test_in_process_server_counts_the_build_not_the_inputs(tmp_path, monkeypatch):
    """Inputs put straight into the store are not counted; reads and writes over HTTP are, per phase."""
    from bench.s3count import CountingServer
    from engine.core import fsio

    (tmp_path / "in" / "sub").mkdir(parents=True)
    for i in range(5):
        (tmp_path / "in" / "sub" / f"f{i}.jsonl").write_text(f'{{"id": {i}}}\n')
    (tmp_path / "in" / "rehearsal.yaml").write_text("not uploaded\n")
    server = CountingServer().start(in_process=True)
    try:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        assert server.put_tree(str(tmp_path / "in"), "rehearsal", "case/in") == 5
        assert server.counts() == {"_bytes": {}, "_phase": "setup"}
        server.phase("read")
        assert fsio.read_bytes("s3://rehearsal/case/in/sub/f3.jsonl") == b'{"id": 3}\n'
        fsio.write_bytes_atomic("s3://rehearsal/case/out/x.json", b"{}")
        assert len(fsio.expand("s3://rehearsal/case/in/*/*.jsonl")) == 5
        c = server.counts()
        assert c["read"]["GET"] == 1 and c["read"]["PUT"] == 1 and c["read"]["LIST"] >= 1
        assert "setup" not in c
    finally:
        server.stop()
