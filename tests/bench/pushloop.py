#!/usr/bin/env python3
"""tests/bench/pushloop.py: push many small images over one keep-alive connection.

    pushloop.py URL LAYOUT TAG_PREFIX COUNT REPO_PREFIX [FIRST [START_AT]]

Pushes images TAG_PREFIX-FIRST .. TAG_PREFIX-(FIRST+COUNT-1) (FIRST defaults to 1) of
the OCI layout LAYOUT to URL/v2/REPO_PREFIX-<n>, tag "1": each blob by a monolithic
POST + PUT ?digest=, then the manifest PUT. Reads every blob before starting the clock,
so only HTTP is timed. Prints the elapsed seconds; with START_AT (a time.time() value,
for several pushers started together) it waits until then and prints the time.time()
at which it finished instead. Exits 1 on the first unexpected status.

Exists because a curl process per request costs more than the server does: this is
the small-push figure that shows the server, skopeo's is the one a user sees.
Invariants: one HTTP/1.1 connection (re-opened only if the server closes it); the
Location of an upload may be absolute or relative; plain http on 127.0.0.1 only.
"""
import http.client
import json
import os
import sys
import time
import urllib.parse

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def load(layout, tag_prefix, first, count):
    """Returns [(n, manifest bytes, [(digest, blob bytes)...])...] for the images."""
    with open(os.path.join(layout, "index.json"), "rb") as f:
        index = json.load(f)
    by_tag = {m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
              for m in index["manifests"]}

    def blob(d):
        with open(os.path.join(layout, "blobs", "sha256", d.split(":", 1)[1]), "rb") as f:
            return f.read()

    images = []
    for n in range(first, first + count):
        mbytes = blob(by_tag["%s-%d" % (tag_prefix, n)])
        m = json.loads(mbytes)
        digests = [m["config"]["digest"]] + [l["digest"] for l in m["layers"]]
        images.append((n, mbytes, [(d, blob(d)) for d in digests]))
    return images


class Client:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        if u.scheme != "http" or not u.hostname:
            raise SystemExit("pushloop: need an http:// URL, got %r" % url)
        self.host, self.port = u.hostname, u.port or 80
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def request(self, method, target, body=None, headers=None, want=(200,)):
        for attempt in (1, 2):
            try:
                self.conn.request(method, target, body=body, headers=headers or {})
                r = self.conn.getresponse()
                r.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                if attempt == 2:
                    raise
        if r.status not in want:
            raise SystemExit("pushloop: %s %s: HTTP %d" % (method, target, r.status))
        if r.getheader("Connection", "").lower() == "close":
            self.conn.close()
        return r


def target_of(location):
    u = urllib.parse.urlsplit(location)
    return u.path + ("?" + u.query if u.query else "")


def push_blob(c, repo, digest, data):
    r = c.request("POST", "/v2/%s/blobs/uploads/" % repo, body=b"",
                  headers={"Content-Length": "0"}, want=(202,))
    t = target_of(r.getheader("Location", ""))
    t += ("&" if "?" in t else "?") + "digest=" + digest
    c.request("PUT", t, body=data,
              headers={"Content-Type": "application/octet-stream"}, want=(201,))


def main():
    if len(sys.argv) not in (6, 7, 8):
        raise SystemExit("usage: pushloop.py URL LAYOUT TAG_PREFIX COUNT REPO_PREFIX"
                         " [FIRST [START_AT]]")
    url, layout, tag_prefix, count, repo_prefix = sys.argv[1:6]
    first = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    start_at = float(sys.argv[7]) if len(sys.argv) > 7 and sys.argv[7] else None
    images = load(layout, tag_prefix, first, int(count))
    c = Client(url)
    if start_at is not None:
        time.sleep(max(0.0, start_at - time.time()))
    t0 = time.monotonic()
    for n, mbytes, blobs in images:
        repo = "%s-%d" % (repo_prefix, n)
        for d, data in blobs:
            push_blob(c, repo, d, data)
        c.request("PUT", "/v2/%s/manifests/1" % repo, body=mbytes,
                  headers={"Content-Type": MT_MANIFEST}, want=(201,))
    if start_at is not None:
        print("%.6f" % time.time())
    else:
        print("%.6f" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
