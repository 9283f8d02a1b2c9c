# Helpers of the volume tests (sourced, bash): the volume key of a LUKS2
# image as cryptsetup sees it, and an independent XTS decryptor of its data
# segment (AES-256-ECB from `openssl enc` for the block cipher, GF(2^128)
# doubling in python3, tweak le64(8k) for 4096-byte sector k).

# The volume key as cryptsetup sees it (hex).
volume_key() {
	cryptsetup luksDump --dump-volume-key --batch-mode --key-file "$2" "$1" 2>/dev/null |
		sed -n '/^MK dump:/,/^[^ \t]/p' | sed 's/MK dump://' | grep -E '^[[:space:]]+[0-9a-f]{2}( |$)' |
		tr -d ' \t\n'
}

# Independent decryptor: IMAGE KEYHEX OUT. Data segment at 16 MiB.
decrypt() {
	python3 - "$1" "$2" "$3" <<'PY'
import subprocess, sys
img, keyhex, out = sys.argv[1], sys.argv[2], sys.argv[3]
k1, k2 = keyhex[:64], keyhex[64:]
S, OFF = 4096, 16 << 20
data = open(img, "rb").read()[OFF:]
n = len(data) // S
data = data[:n * S]
def ecb(key, decrypt, buf):
    args = ["openssl", "enc", "-aes-256-ecb", "-nopad", "-K", key, "-d" if decrypt else "-e"]
    return subprocess.run(args, input=buf, stdout=subprocess.PIPE, check=True).stdout
# T0 of sector k = AES-ECB_K2(le64(8k) || 0^8): one openssl run for all.
t0 = ecb(k2, False, b"".join((8 * k).to_bytes(16, "little") for k in range(n)))
mask = bytearray()
for k in range(n):
    t = int.from_bytes(t0[16 * k:16 * k + 16], "little")
    for _ in range(S // 16):
        mask += t.to_bytes(16, "little")
        t <<= 1
        if t >> 128:
            t = (t & ((1 << 128) - 1)) ^ 0x87
mask = bytes(mask)
L = len(data)
x = (int.from_bytes(data, "little") ^ int.from_bytes(mask, "little")).to_bytes(L, "little")
p = ecb(k1, True, x)
p = (int.from_bytes(p, "little") ^ int.from_bytes(mask, "little")).to_bytes(L, "little")
open(out, "wb").write(p)
PY
}

