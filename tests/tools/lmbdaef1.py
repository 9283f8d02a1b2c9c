#!/usr/bin/python3
"""An independent reader and writer of the lambda encrypted file format
(DESIGN.md section 5, "Encrypted file"), written from the specification
only, for interoperability tests. Needs python3-cryptography (Debian).

  lmbdaef1.py genkey KEY.pem              make a CMK file (mode 0600)
  lmbdaef1.py keyid KEY.pem               print its lmk_... key id
  lmbdaef1.py encrypt --key KEY [--segment-size N] IN OUT
  lmbdaef1.py decrypt --key KEY IN OUT
  (--kek-hex HEX --key-id-hex HEX instead of --key use a raw file KEK)

IN/OUT may be - for stdin/stdout. Exit status 0 on success, 1 on any error.
"""
import argparse
import base64
import hashlib
import os
import struct
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"LMBDAEF1"
HEADER = 88
TAG = 16
LABEL = "LAMBDA MASTER KEY"


class FormatError(Exception):
    pass


def read_cmk(path):
    lines = open(path, "r", encoding="ascii").read().splitlines()
    begin = lines.index("-----BEGIN %s-----" % LABEL)
    end = lines.index("-----END %s-----" % LABEL)
    key = base64.b64decode("".join(lines[begin + 1:end]), validate=True)
    if len(key) != 32:
        raise FormatError("CMK is not 32 bytes")
    return key


def file_kek(cmk):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"lambda/v1",
                info=b"file-kek").derive(cmk)


def key_id(cmk):
    return hashlib.sha256(b"lambda/v1 key-id" + cmk).digest()[:8]


def keys_from_args(args):
    if args.kek_hex:
        return bytes.fromhex(args.kek_hex), bytes.fromhex(args.key_id_hex)
    cmk = read_cmk(args.key)
    return file_kek(cmk), key_id(cmk)


def read_full(f, n):
    out = b""
    while len(out) < n:
        chunk = f.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def seg_nonce(prefix, i, last):
    return prefix + struct.pack(">I", i) + (b"\x01" if last else b"\x00")


def encrypt(kek, kid, seg_size, fin, fout):
    if not 4096 <= seg_size <= 16777216:
        raise FormatError("segment size out of range")
    prefix, wrap_nonce, fkey = os.urandom(7), os.urandom(12), os.urandom(32)
    head = MAGIC + struct.pack(">I", seg_size) + prefix + b"\x00" + kid
    head += wrap_nonce + AESGCM(kek).encrypt(wrap_nonce, fkey, head[:28])
    assert len(head) == HEADER
    fout.write(head)
    aead, aad = AESGCM(fkey), head[:20]
    cur, i = read_full(fin, seg_size), 0
    while True:
        nxt = read_full(fin, seg_size) if len(cur) == seg_size else b""
        last = not nxt
        fout.write(aead.encrypt(seg_nonce(prefix, i, last), cur, aad))
        if last:
            return
        cur, i = nxt, i + 1


def decrypt(kek, kid, fin, fout):
    head = read_full(fin, HEADER)
    if head[:8] != MAGIC:
        raise FormatError("bad magic or version")
    if len(head) < HEADER:
        raise FormatError("truncated header")
    (seg_size,) = struct.unpack(">I", head[8:12])
    if not 4096 <= seg_size <= 16777216:
        raise FormatError("segment size out of range")
    if head[19] != 0:
        raise FormatError("reserved byte not zero")
    if head[20:28] != kid:
        raise FormatError("wrong key: file wants lmk_" + head[20:28].hex())
    try:
        fkey = AESGCM(kek).decrypt(head[28:40], head[40:88], head[:28])
    except InvalidTag:
        raise FormatError("header failed authentication")
    aead, aad, prefix = AESGCM(fkey), head[:20], head[12:19]
    cur, i = read_full(fin, seg_size + TAG), 0
    while True:
        nxt = read_full(fin, seg_size + TAG) if len(cur) == seg_size + TAG else b""
        last = not nxt
        if len(cur) < TAG:
            raise FormatError("truncated segment %d" % i)
        if i > 0xFFFFFFFF:
            raise FormatError("segment counter overflow")
        try:
            pt = aead.decrypt(seg_nonce(prefix, i, last), cur, aad)
        except InvalidTag:
            raise FormatError("segment %d failed authentication" % i)
        if last and not pt and i > 0:
            raise FormatError("empty last segment")
        fout.write(pt)
        if last:
            return
        cur, i = nxt, i + 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["genkey", "keyid", "encrypt", "decrypt"])
    p.add_argument("files", nargs="+")
    p.add_argument("--key")
    p.add_argument("--kek-hex")
    p.add_argument("--key-id-hex")
    p.add_argument("--segment-size", type=int, default=65536)
    a = p.parse_args()
    try:
        if a.cmd == "genkey":
            fd = os.open(a.files[0], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            body = base64.b64encode(os.urandom(32)).decode()
            os.write(fd, ("# test key\n-----BEGIN %s-----\n%s\n-----END %s-----\n"
                          % (LABEL, body, LABEL)).encode())
            os.close(fd)
            return 0
        if a.cmd == "keyid":
            print("lmk_" + key_id(read_cmk(a.files[0])).hex())
            return 0
        kek, kid = keys_from_args(a)
        fin = sys.stdin.buffer if a.files[0] == "-" else open(a.files[0], "rb")
        fout = sys.stdout.buffer if a.files[1] == "-" else open(a.files[1], "wb")
        if a.cmd == "encrypt":
            encrypt(kek, kid, a.segment_size, fin, fout)
        else:
            decrypt(kek, kid, fin, fout)
        fout.flush()
        return 0
    except (FormatError, ValueError, OSError) as e:
        print("lmbdaef1.py: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
