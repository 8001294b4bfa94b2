#!/usr/bin/env python3
"""Reference computation for crates/espprov's golden vectors (tests/vectors/golden.json).

This is an independent implementation of the ESP-IDF provisioning handshakes, written from the
facts recorded in crates/espprov/README.md (security1.c, security2.c, esp_srp.c, security1.py,
security2.py, srp6a.py), using Python's integers and hashlib and the `cryptography` package for
X25519, AES-CTR and AES-GCM. It shares no code with the Rust crate. Protobuf bytes are encoded
by hand from the field numbers of ESP-IDF's .proto files.

It also checks that the RFC 5054 3072-bit modulus equals the RFC 3526 formula
2^3072 - 2^3008 - 1 + 2^64 * (floor(2^2942 * pi) + 1690314), with pi computed here, and that
esp_prov's srp6a.py way of encoding values (minimal big-endian ints) gives the same M1 as
esp_srp.c's for the chosen inputs.

Run: python3 tests/vectors/reference.py > tests/vectors/golden.json   (needs `cryptography`)
"""
import hashlib
import json
from decimal import Decimal, getcontext

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import serialization

N_HEX = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF"
)


def pi_digits(precision):
    """pi by Machin's formula with Decimal arithmetic."""
    getcontext().prec = precision + 10

    def arctan_inv(x):
        x = Decimal(x)
        total, term, n, sign = Decimal(0), 1 / x, 1, 1
        x2 = x * x
        while term > Decimal(10) ** -(precision + 5):
            total += sign * term / n
            term /= x2
            n += 2
            sign = -sign
        return total

    return 16 * arctan_inv(5) - 4 * arctan_inv(239)


def rfc3526_prime():
    pi = pi_digits(1000)
    getcontext().prec = 1000
    floor = int((Decimal(2) ** 2942 * pi).to_integral_value(rounding="ROUND_FLOOR"))
    return 2 ** 3072 - 2 ** 3008 - 1 + 2 ** 64 * (floor + 1690314)


N = int(N_HEX, 16)
assert N == rfc3526_prime(), "N_HEX is not the RFC 3526 group 15 prime"
G = 5
LEN = 384


def H(*parts):
    h = hashlib.sha512()
    for p in parts:
        h.update(p)
    return h.digest()


def minimal(n):
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def pad(b):
    return bytes(LEN - len(b)) + b


# ---------------------------------------------------------------- protobuf, by hand
def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_varint(field, value):
    return b"" if value == 0 else varint(field << 3) + varint(value)


def f_bytes(field, value):
    return b"" if len(value) == 0 else varint(field << 3 | 2) + varint(len(value)) + value


def f_msg(field, value):  # a set sub-message is always written, even when empty
    return varint(field << 3 | 2) + varint(len(value)) + value


def session_data(sec_ver, oneof_field, payload):
    return f_varint(2, sec_ver) + f_msg(oneof_field, payload)


def sec_payload(msg, oneof_field, inner):
    return f_varint(1, msg) + f_msg(oneof_field, inner)


# ---------------------------------------------------------------- Security 1
def sec1():
    client_secret = bytes(range(0x10, 0x30))
    device_secret = bytes(range(0x40, 0x60))
    device_random = bytes(range(0xA0, 0xB0))
    pop = b"abcd1234"

    def public(secret):
        key = X25519PrivateKey.from_private_bytes(secret)
        return key, key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    client_key, client_pub = public(client_secret)
    device_key, device_pub = public(device_secret)
    shared = client_key.exchange(X25519PublicKey.from_public_bytes(device_pub))
    assert shared == device_key.exchange(X25519PublicKey.from_public_bytes(client_pub))
    digest = hashlib.sha256(pop).digest()
    key = bytes(a ^ b for a, b in zip(shared, digest))
    stream = Cipher(algorithms.AES(key), modes.CTR(device_random)).encryptor()
    client_verify = stream.update(device_pub)
    device_verify = stream.update(client_pub)
    request = stream.update(b"ping from the app")
    response = stream.update(b"pong")

    cmd0 = session_data(1, 11, sec_payload(0, 20, f_bytes(1, client_pub)))
    resp0 = session_data(1, 11, sec_payload(1, 21, f_varint(1, 0) + f_bytes(2, device_pub) + f_bytes(3, device_random)))
    cmd1 = session_data(1, 11, sec_payload(2, 22, f_bytes(2, client_verify)))
    resp1 = session_data(1, 11, sec_payload(3, 23, f_varint(1, 0) + f_bytes(3, device_verify)))
    return {
        "pop": pop.decode(),
        "client_secret": client_secret.hex(),
        "device_secret": device_secret.hex(),
        "device_random": device_random.hex(),
        "shared_key": key.hex(),
        "cmd0": cmd0.hex(),
        "resp0": resp0.hex(),
        "cmd1": cmd1.hex(),
        "resp1": resp1.hex(),
        "request_plain": b"ping from the app".hex(),
        "request_sealed": request.hex(),
        "response_plain": b"pong".hex(),
        "response_sealed": response.hex(),
    }


# ---------------------------------------------------------------- Security 2
def sec2():
    username, password = b"wifiprov", b"abcd1234"
    salt = bytes.fromhex("3d8a2b7c4e1f9a6b5c0d2e8f7a1b3c4d")
    a = bytes.fromhex("8f" + "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f"[:62])
    b = bytes.fromhex("6b" + "1122334455667788990011223344556677889900112233445566778899aabb"[:62])
    session_id = bytes.fromhex("0102030405060708")

    k = int.from_bytes(H(minimal(N), pad(minimal(G))), "big")
    x = int.from_bytes(H(salt, H(username, b":", password)), "big")
    v = pow(G, x, N)
    A = pow(G, int.from_bytes(a, "big"), N)
    A_bytes = minimal(A)
    assert len(A_bytes) == LEN, "pick another a: A must be 384 bytes"
    B = (k * v + pow(G, int.from_bytes(b, "big"), N)) % N
    B_bytes = minimal(B)
    u = int.from_bytes(H(pad(A_bytes), pad(B_bytes)), "big")
    S_client = pow((B - k * v) % N, int.from_bytes(a, "big") + u * x, N)
    S_device = pow(A * pow(v, u, N) % N, int.from_bytes(b, "big"), N)
    assert S_client == S_device
    K = H(minimal(S_client))
    hn_xor_hg = bytes(p ^ q for p, q in zip(H(minimal(N)), H(pad(minimal(G)))))
    M1 = H(hn_xor_hg, H(username), salt, A_bytes, B_bytes, K)
    M2 = H(A_bytes, M1, K)

    # esp_prov's srp6a.py encodes salt, A and B as minimal ints; for these inputs that is the
    # same bytes, so the esp_prov client and esp_srp.c agree here.
    assert minimal(int.from_bytes(salt, "big")) == salt and minimal(A) == A_bytes
    assert minimal(int.from_bytes(H(username, b":", password), "big")) == H(username, b":", password)

    nonce = session_id + (1).to_bytes(4, "big")
    aead = AESGCM(K[:32])

    def at(counter):
        return session_id + counter.to_bytes(4, "big")

    # sec_patch_ver 1: one counter, advanced by every encrypt and every decrypt on both sides.
    request = aead.encrypt(at(1), b"ping from the app", None)
    response = aead.encrypt(at(2), b"pong", None)
    request2 = aead.encrypt(at(3), b"second", None)
    # sec_patch_ver 0: the nonce never changes.
    fixed_request = aead.encrypt(at(1), b"ping from the app", None)
    fixed_response = aead.encrypt(at(1), b"pong", None)

    cmd0 = session_data(2, 12, sec_payload(0, 20, f_bytes(1, username) + f_bytes(2, A_bytes)))
    resp0 = session_data(2, 12, sec_payload(1, 21, f_varint(1, 0) + f_bytes(2, B_bytes) + f_bytes(3, salt)))
    cmd1 = session_data(2, 12, sec_payload(2, 22, f_bytes(1, M1)))
    resp1 = session_data(2, 12, sec_payload(3, 23, f_varint(1, 0) + f_bytes(2, M2) + f_bytes(3, nonce)))
    return {
        "username": username.decode(),
        "password": password.decode(),
        "salt": salt.hex(),
        "verifier": minimal(v).hex(),
        "a": a.hex(),
        "b": b.hex(),
        "session_id": session_id.hex(),
        "k": minimal(k).hex(),
        "u": minimal(u).hex(),
        "session_key": K.hex(),
        "m1": M1.hex(),
        "m2": M2.hex(),
        "cmd0": cmd0.hex(),
        "resp0": resp0.hex(),
        "cmd1": cmd1.hex(),
        "resp1": resp1.hex(),
        "request_plain": b"ping from the app".hex(),
        "counter_request_sealed": request.hex(),
        "response_plain": b"pong".hex(),
        "counter_response_sealed": response.hex(),
        "second_plain": b"second".hex(),
        "counter_second_sealed": request2.hex(),
        "fixed_request_sealed": fixed_request.hex(),
        "fixed_response_sealed": fixed_response.hex(),
    }


def sec2_esp_prov():
    """A verifier as esp_prov's --sec2_gen_cred makes it. srp6a.py's calculate_x hashes the salt
    and the inner digest H(I | ":" | p) after long_to_bytes, which drops leading zero bytes; for
    a password whose inner digest starts with 0x00 that gives another verifier than esp_srp.c's
    full 64-byte digest. The password here is the first `label-N` with such a digest."""
    username = b"wifiprov"
    password = next(
        p for p in (f"label-{i}".encode() for i in range(100000)) if H(username, b":", p)[0] == 0
    )
    salt = bytes.fromhex("3d8a2b7c4e1f9a6b5c0d2e8f7a1b3c4d")
    inner = H(username, b":", password)
    x_esp_prov = int.from_bytes(
        H(minimal(int.from_bytes(salt, "big")), minimal(int.from_bytes(inner, "big"))), "big"
    )
    x_esp_srp = int.from_bytes(H(salt, inner), "big")
    assert x_esp_prov != x_esp_srp
    return {
        "username": username.decode(),
        "password": password.decode(),
        "salt": salt.hex(),
        "esp_prov_verifier": minimal(pow(G, x_esp_prov, N)).hex(),
        "esp_srp_verifier": minimal(pow(G, x_esp_srp, N)).hex(),
    }


def sec0():
    return {
        "cmd": session_data(0, 10, sec_payload(0, 20, b"")).hex(),
        "resp": session_data(0, 10, sec_payload(1, 21, f_varint(1, 0))).hex(),
    }


def wifi():
    # WiFiConfigPayload{msg=TypeCmdSetConfig, cmd_set_config{ssid, passphrase, bssid, channel}}
    set_config = f_varint(1, 2) + f_msg(12, f_bytes(1, b"home") + f_bytes(2, b"correct horse") + f_bytes(3, bytes([1, 2, 3, 4, 5, 6])) + f_varint(4, 11))
    # RespGetStatus connected: WiFiConfigPayload{msg=1, resp_get_status{status=0, sta_state=0, connected{...}}}
    connected = f_bytes(1, b"192.168.1.7") + f_varint(2, 3) + f_bytes(3, b"home") + f_bytes(4, bytes([1, 2, 3, 4, 5, 6])) + f_varint(5, 6)
    get_status_connected = f_varint(1, 1) + f_msg(11, f_msg(11, connected))
    # WiFiScanPayload{msg=TypeCmdScanResult, cmd_scan_result{start_index=4, count=4}}
    scan_result = f_varint(1, 4) + f_msg(14, f_varint(1, 4) + f_varint(2, 4))
    # WiFiCtrlPayload{msg=TypeCmdCtrlReset, cmd_ctrl_reset{}}
    ctrl_reset = f_varint(1, 1) + f_msg(11, b"")
    return {
        "set_config": set_config.hex(),
        "get_status_connected": get_status_connected.hex(),
        "scan_result": scan_result.hex(),
        "ctrl_reset": ctrl_reset.hex(),
    }


print(json.dumps({"sec0": sec0(), "sec1": sec1(), "sec2": sec2(), "sec2_esp_prov": sec2_esp_prov(), "wifi": wifi()}, indent=2))
