//! SRP6a exactly as ESP-IDF's `esp_srp.c` (device) and esp_prov's `srp6a.py` (client) compute
//! it: the RFC 5054 3072-bit group, g = 5, H = SHA-512.
//!
//! * `k = H(N | PAD(g))`, `u = H(PAD(A) | PAD(B))`, where PAD left-pads with zeros to 384 bytes;
//! * `x = H(s | H(I | ":" | p))` with the salt's raw bytes and the full 64-byte inner digest
//!   (a verifier made by esp_prov's `--sec2_gen_cred` drops leading zero bytes there: see
//!   [`VerifierOrigin`]);
//! * `v = g^x`, `B = k·v + g^b`, client `S = (B − k·v)^(a + u·x)`, device `S = (A·v^u)^b`;
//! * `K = H(S)` with `S` as minimal big-endian bytes;
//! * `M1 = H(H(N) XOR H(PAD(g)) | H(I) | s | A | B | K)` and `M2 = H(A | M1 | K)`, with `A`
//!   and `B` exactly as they crossed the wire (`A` is 384 bytes, `B` minimal).
//!
//! The arithmetic uses `num-bigint`, which is not constant-time; see the crate README.

use std::sync::OnceLock;

use num_bigint::BigUint;
use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The byte length of the group modulus N, and so of a padded value and of `A`.
pub const GROUP_LEN: usize = 384;
/// The length of a SHA-512 digest: `K`, `M1` and `M2`.
pub const DIGEST_LEN: usize = 64;

/// RFC 5054 Appendix A, 3072-bit group (the same prime as RFC 3526 group 15).
const N_HEX: &[u8] = b"\
FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD\
EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED\
EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F\
83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B\
E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510\
15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7\
ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C\
BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF";

const G: u32 = 5;

struct Group {
    n: BigUint,
    g: BigUint,
    k: BigUint,
    /// `H(N) XOR H(PAD(g))`, the first input of `M1`.
    hn_xor_hg: [u8; DIGEST_LEN],
}

fn group() -> &'static Group {
    static GROUP: OnceLock<Group> = OnceLock::new();
    GROUP.get_or_init(|| {
        let n = BigUint::parse_bytes(N_HEX, 16).expect("the RFC 5054 modulus is valid hex");
        let g = BigUint::from(G);
        let n_bytes = n.to_bytes_be();
        let padded_g = pad(&g.to_bytes_be());
        let k = BigUint::from_bytes_be(&hash(&[&n_bytes, &padded_g]));
        let (hn, hg) = (hash(&[&n_bytes]), hash(&[&padded_g]));
        let hn_xor_hg = std::array::from_fn(|i| hn[i] ^ hg[i]);
        Group { n, g, k, hn_xor_hg }
    })
}

/// The modulus N as 384 big-endian bytes.
pub fn modulus() -> Vec<u8> {
    group().n.to_bytes_be()
}

pub(crate) fn hash(parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    let mut digest = Sha512::new();
    for part in parts {
        digest.update(part);
    }
    digest.finalize().into()
}

/// Left-pads to the modulus length. Callers pass at most [`GROUP_LEN`] bytes.
fn pad(bytes: &[u8]) -> Vec<u8> {
    let mut padded = vec![0u8; GROUP_LEN.saturating_sub(bytes.len())];
    padded.extend_from_slice(bytes);
    padded
}

/// Minimal big-endian bytes, as `mbedtls_mpi_write_binary` with `mbedtls_mpi_size` writes them.
fn minimal(value: &BigUint) -> Vec<u8> {
    if *value == BigUint::ZERO {
        Vec::new()
    } else {
        value.to_bytes_be()
    }
}

/// Where a device's salt and verifier were made: the two tools derive `x` differently for
/// about one password in 256, so a client that knows only the password may have to try both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VerifierOrigin {
    /// `esp_srp_gen_salt_verifier` (ESP-IDF's C code, and so firmware that makes its own):
    /// `x = H(s | H(I | ":" | p))` with the salt's raw bytes and the full 64-byte inner digest.
    #[default]
    EspSrp,
    /// esp_prov's `--sec2_gen_cred` (`srp6a.py`, the tool ESP-IDF's documentation names): the
    /// same, but the salt and the inner digest pass through Python's `long_to_bytes`, which
    /// drops their leading zero bytes.
    EspProv,
}

impl VerifierOrigin {
    /// Whether the two origins give different verifiers for this username and password (the
    /// inner digest starts with a zero byte), with salts that do not start with one, as
    /// esp_prov's never do.
    pub fn differ_for(username: &[u8], password: &[u8]) -> bool {
        hash(&[username, b":", password])[0] == 0
    }
}

/// `bytes` without its leading zero bytes (Python's `long_to_bytes(bytes_to_long(bytes))`).
fn without_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn x(username: &[u8], password: &[u8], salt: &[u8], origin: VerifierOrigin) -> BigUint {
    let inner = hash(&[username, b":", password]);
    let outer = match origin {
        VerifierOrigin::EspSrp => hash(&[salt, &inner]),
        VerifierOrigin::EspProv => {
            hash(&[without_leading_zeros(salt), without_leading_zeros(&inner)])
        }
    };
    BigUint::from_bytes_be(&outer)
}

fn u(a_pub: &[u8], b_pub: &[u8]) -> BigUint {
    BigUint::from_bytes_be(&hash(&[&pad(a_pub), &pad(b_pub)]))
}

/// The password verifier `v = g^x mod N` for a username, password and salt, as minimal
/// big-endian bytes (what `esp_srp_gen_salt_verifier` produces and
/// `protocomm_security2_params_t.verifier` holds).
pub fn compute_verifier(username: &[u8], password: &[u8], salt: &[u8]) -> Vec<u8> {
    compute_verifier_as(VerifierOrigin::EspSrp, username, password, salt)
}

/// The verifier as the tool `origin` makes it.
pub fn compute_verifier_as(
    origin: VerifierOrigin,
    username: &[u8],
    password: &[u8],
    salt: &[u8],
) -> Vec<u8> {
    let group = group();
    minimal(
        &group
            .g
            .modpow(&x(username, password, salt, origin), &group.n),
    )
}

/// `A = g^a mod N`, minimal bytes.
pub(crate) fn client_public(a: &[u8]) -> Vec<u8> {
    let group = group();
    minimal(&group.g.modpow(&BigUint::from_bytes_be(a), &group.n))
}

/// What the client derives from the device's salt and `B`.
pub(crate) struct ClientProofs {
    pub(crate) m1: [u8; DIGEST_LEN],
    pub(crate) m2: [u8; DIGEST_LEN],
    pub(crate) key: Zeroizing<[u8; DIGEST_LEN]>,
}

/// The client's side: checks `B`, computes `K`, `M1` and the `M2` the device must send.
pub(crate) struct ClientInput<'a> {
    pub(crate) username: &'a [u8],
    pub(crate) password: &'a [u8],
    pub(crate) salt: &'a [u8],
    pub(crate) a: &'a [u8],
    pub(crate) a_pub: &'a [u8],
    pub(crate) b_pub: &'a [u8],
    pub(crate) origin: VerifierOrigin,
}

pub(crate) fn client_proofs(input: &ClientInput<'_>) -> Result<ClientProofs> {
    let group = group();
    let b = BigUint::from_bytes_be(input.b_pub);
    if input.b_pub.len() > GROUP_LEN || (&b % &group.n) == BigUint::ZERO {
        return Err(Error::invalid(
            "device_pubkey",
            "B is zero modulo N or longer than N",
        ));
    }
    let u = u(input.a_pub, input.b_pub);
    if u == BigUint::ZERO {
        return Err(Error::invalid(
            "device_pubkey",
            "the scrambling parameter u is zero",
        ));
    }
    let x = x(input.username, input.password, input.salt, input.origin);
    let kv = (&group.k * group.g.modpow(&x, &group.n)) % &group.n;
    let base = ((&b % &group.n) + &group.n - kv) % &group.n;
    let exponent = BigUint::from_bytes_be(input.a) + &u * &x;
    let s = base.modpow(&exponent, &group.n);
    let key = session_key(&s)?;
    let m1 = m1(
        input.username,
        input.salt,
        input.a_pub,
        input.b_pub,
        &key[..],
    );
    let m2 = m2(input.a_pub, &m1, &key[..]);
    Ok(ClientProofs { m1, m2, key })
}

/// `B = (k·v + g^b) mod N`, minimal bytes.
pub(crate) fn device_public(verifier: &[u8], b: &[u8]) -> Vec<u8> {
    let group = group();
    let v = BigUint::from_bytes_be(verifier);
    let gb = group.g.modpow(&BigUint::from_bytes_be(b), &group.n);
    minimal(&((&group.k * v + gb) % &group.n))
}

/// The device's `K = H((A·v^u)^b)`; refuses `A ≡ 0 (mod N)` as `esp_srp.c` does.
pub(crate) fn device_key(
    verifier: &[u8],
    b: &[u8],
    a_pub: &[u8],
    b_pub: &[u8],
) -> Result<Zeroizing<[u8; DIGEST_LEN]>> {
    let group = group();
    let a = BigUint::from_bytes_be(a_pub);
    if (&a % &group.n) == BigUint::ZERO {
        return Err(Error::invalid("client_pubkey", "A is zero modulo N"));
    }
    let v = BigUint::from_bytes_be(verifier);
    let avu = (a * v.modpow(&u(a_pub, b_pub), &group.n)) % &group.n;
    session_key(&avu.modpow(&BigUint::from_bytes_be(b), &group.n))
}

fn session_key(s: &BigUint) -> Result<Zeroizing<[u8; DIGEST_LEN]>> {
    if *s == BigUint::ZERO {
        return Err(Error::invalid("SRP premaster secret", "S is zero"));
    }
    Ok(Zeroizing::new(hash(&[&minimal(s)])))
}

/// `M1 = H(H(N) XOR H(PAD(g)) | H(I) | s | A | B | K)`.
pub(crate) fn m1(
    username: &[u8],
    salt: &[u8],
    a_pub: &[u8],
    b_pub: &[u8],
    key: &[u8],
) -> [u8; DIGEST_LEN] {
    hash(&[
        &group().hn_xor_hg,
        &hash(&[username]),
        salt,
        a_pub,
        b_pub,
        key,
    ])
}

/// `M2 = H(A | M1 | K)`.
pub(crate) fn m2(a_pub: &[u8], m1: &[u8], key: &[u8]) -> [u8; DIGEST_LEN] {
    hash(&[a_pub, m1, key])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_modulus_is_the_3072_bit_rfc_5054_prime() {
        let n = modulus();
        assert_eq!(n.len(), GROUP_LEN);
        assert_eq!(n[..8], [0xff; 8]);
        assert_eq!(
            n[8..16],
            [0xc9, 0x0f, 0xda, 0xa2, 0x21, 0x68, 0xc2, 0x34],
            "pi's bits start here"
        );
        assert_eq!(
            n[GROUP_LEN - 16..GROUP_LEN - 8],
            [0x4b, 0x82, 0xd1, 0x20, 0xa9, 0x3a, 0xd2, 0xca]
        );
        assert_eq!(n[GROUP_LEN - 8..], [0xff; 8]);
        // Fermat witness for base 2: N is (very probably) prime.
        let n = BigUint::from_bytes_be(&n);
        assert_eq!(
            BigUint::from(2u8).modpow(&(&n - 1u8), &n),
            BigUint::from(1u8)
        );
    }

    #[test]
    fn client_and_device_derive_the_same_key_and_proofs() {
        let (user, pass, salt) = (&b"wifiprov"[..], &b"abcd1234"[..], [0x42u8; 16]);
        let verifier = compute_verifier(user, pass, &salt);
        let (a, b) = ([0x81u8; 32], [0x17u8; 32]);
        let a_pub = client_public(&a);
        let b_pub = device_public(&verifier, &b);
        let input = ClientInput {
            username: user,
            password: pass,
            salt: &salt,
            a: &a,
            a_pub: &a_pub,
            b_pub: &b_pub,
            origin: VerifierOrigin::EspSrp,
        };
        let client = client_proofs(&input).expect("client side");
        let device_key = device_key(&verifier, &b, &a_pub, &b_pub).expect("device side");
        assert_eq!(*client.key, *device_key);
        assert_eq!(
            client.m1,
            m1(user, &salt, &a_pub, &b_pub, device_key.as_ref())
        );
        assert_eq!(client.m2, m2(&a_pub, &client.m1, device_key.as_ref()));
    }

    #[test]
    fn k_u_and_the_key_match_the_reference_vectors() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/vectors/golden.json"))
                .expect("golden.json");
        let v = &vectors["sec2"];
        let bytes = |key: &str| hex::decode(v[key].as_str().expect(key)).expect("hex");
        assert_eq!(group().k.to_bytes_be(), bytes("k"), "k = H(N | PAD(g))");
        let a_pub = client_public(&bytes("a"));
        let b_pub = device_public(&bytes("verifier"), &bytes("b"));
        assert_eq!(
            u(&a_pub, &b_pub).to_bytes_be(),
            bytes("u"),
            "u = H(PAD(A) | PAD(B))"
        );
        let (user, pass, salt, a) = (b"wifiprov", b"abcd1234", bytes("salt"), bytes("a"));
        let input = ClientInput {
            username: user,
            password: pass,
            salt: &salt,
            a: &a,
            a_pub: &a_pub,
            b_pub: &b_pub,
            origin: VerifierOrigin::EspSrp,
        };
        let proofs = client_proofs(&input).expect("proofs");
        assert_eq!(proofs.key.to_vec(), bytes("session_key"), "K = H(S)");
        assert_eq!(proofs.m1.to_vec(), bytes("m1"));
        assert_eq!(proofs.m2.to_vec(), bytes("m2"));
    }

    #[test]
    fn degenerate_public_values_are_refused() {
        let n = modulus();
        let verifier = compute_verifier(b"u", b"p", b"s");
        assert!(device_key(&verifier, &[1; 32], &n, &[5]).is_err(), "A = N");
        assert!(
            device_key(&verifier, &[1; 32], &[0; GROUP_LEN], &[5]).is_err(),
            "A = 0"
        );
        let a_pub = client_public(&[0x81; 32]);
        for b_pub in [n.clone(), vec![0; 3], vec![1; GROUP_LEN + 1]] {
            let input = ClientInput {
                username: b"u",
                password: b"p",
                salt: b"s",
                a: &[0x81; 32],
                a_pub: &a_pub,
                b_pub: &b_pub,
                origin: VerifierOrigin::EspSrp,
            };
            assert!(client_proofs(&input).is_err(), "B of {} bytes", b_pub.len());
        }
    }
}
