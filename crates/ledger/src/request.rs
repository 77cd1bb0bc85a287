//! Signed HTTP requests: the scheme shared by the live exchange and the validator API.
//!
//! A request that acts for a key carries four headers:
//!
//! | header | value |
//! | --- | --- |
//! | `x-nestgrid-key` | the signer's ed25519 public key, 64 hex digits |
//! | `x-nestgrid-timestamp` | milliseconds since 1970-01-01 UTC when it was signed |
//! | `x-nestgrid-nonce` | 8 to 64 characters from `A-Z a-z 0-9 - _`, never reused by the key |
//! | `x-nestgrid-signature` | ed25519 signature, 128 hex digits |
//!
//! The signed bytes are the domain tag's length as a 4-byte little-endian integer, the domain
//! tag itself, and the message `METHOD\nPATH\nTIMESTAMP\nNONCE\nSHA256(BODY)` (the path with
//! its query string, the body's hash as 64 lowercase hex digits: the hash of nothing for
//! requests without a body). This is the ledger's signing rule ([`Keypair::sign`]) with a
//! domain tag per service: the exchange's `nestgrid-api-v1`, the validator API's
//! [`READ_DOMAIN`]. A request signature is therefore never valid for another service, nor as a
//! transaction or a vote. A server refuses a request whose timestamp is more than its window
//! ([`WINDOW_MS`]) from its clock, or whose nonce the key used inside the window
//! ([`Nonces::admit`]): a captured request cannot be replayed to it, and it only has to
//! remember a window's nonces.
//!
//! Nothing here reads a clock: the time is passed in.

use crate::crypto::{Keypair, PublicKey, Signature, Verifier};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Domain tag of signed reads on a validator's API.
pub const READ_DOMAIN: &[u8] = b"nestgrid-ledger-read-v1";
/// Header with the signer's public key.
pub const KEY: &str = "x-nestgrid-key";
/// Header with the signing time (ms since the Unix epoch).
pub const TIMESTAMP: &str = "x-nestgrid-timestamp";
/// Header with the nonce.
pub const NONCE: &str = "x-nestgrid-nonce";
/// Header with the signature.
pub const SIGNATURE: &str = "x-nestgrid-signature";
/// How far a request's timestamp may be from the server's clock.
pub const WINDOW_MS: i64 = 30_000;

/// The message a request signature covers (signed under a domain tag).
pub fn message(method: &str, path: &str, timestamp_ms: i64, nonce: &str, body: &[u8]) -> Vec<u8> {
    let hash = hex::encode(Sha256::digest(body));
    format!("{method}\n{path}\n{timestamp_ms}\n{nonce}\n{hash}").into_bytes()
}

/// The four headers of a request signed by `keypair` under `domain`.
pub fn sign(
    keypair: &Keypair,
    domain: &[u8],
    method: &str,
    path: &str,
    body: &[u8],
    timestamp_ms: i64,
    nonce: &str,
) -> [(&'static str, String); 4] {
    let signature = keypair.sign(domain, &message(method, path, timestamp_ms, nonce, body));
    [
        (KEY, keypair.public().to_hex()),
        (TIMESTAMP, timestamp_ms.to_string()),
        (NONCE, nonce.to_string()),
        (SIGNATURE, hex::encode(signature.0)),
    ]
}

/// Why a request's signature was refused. Each is answered with `401`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A header is missing.
    #[error("header `{0}` is missing: requests that act for a key are signed")]
    Missing(&'static str),
    /// A header is not in its format.
    #[error("header `{header}` {problem}")]
    Malformed {
        /// The header.
        header: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
    /// The signature does not verify for the key over this request.
    #[error(
        "the signature does not match this key and request (method, path with query, timestamp, nonce, body hash)"
    )]
    BadSignature,
    /// The timestamp is outside the window.
    #[error(
        "the timestamp is {skew_ms} ms from the server's clock; at most {window_ms} ms is accepted"
    )]
    Stale {
        /// Request time minus server time.
        skew_ms: i64,
        /// The window.
        window_ms: i64,
    },
    /// The nonce was used before.
    #[error("this key already used nonce `{0}`: a request is accepted once")]
    Replayed(String),
}

/// The headers of a signed request, as received.
#[derive(Clone, Copy, Debug, Default)]
pub struct Received<'a> {
    /// `x-nestgrid-key`.
    pub key: Option<&'a str>,
    /// `x-nestgrid-timestamp`.
    pub timestamp: Option<&'a str>,
    /// `x-nestgrid-nonce`.
    pub nonce: Option<&'a str>,
    /// `x-nestgrid-signature`.
    pub signature: Option<&'a str>,
}

impl Received<'_> {
    /// Whether the request carries none of the four headers (an anonymous request).
    pub fn is_anonymous(&self) -> bool {
        self.key.is_none()
            && self.timestamp.is_none()
            && self.nonce.is_none()
            && self.signature.is_none()
    }
}

/// What a request is checked against: the service's domain tag, the server's clock and its
/// window.
#[derive(Clone, Copy, Debug)]
pub struct Check<'a> {
    /// The service's domain tag.
    pub domain: &'a [u8],
    /// The server's time (ms since the Unix epoch).
    pub now_ms: i64,
    /// How far the request's timestamp may be from `now_ms`.
    pub window_ms: i64,
}

/// Checks a request's headers, timestamp and signature (not its nonce: see
/// [`Nonces::admit`]). `verifier` gives the decompressed key (a cache: see
/// [`Nonces::verifier`]; `&PublicKey::verifier` computes it each time). Returns the key and the
/// nonce. The same as [`parse`] followed by [`Signed::verify`].
pub fn verify(
    received: &Received,
    check: Check,
    method: &str,
    path: &str,
    body: &[u8],
    verifier: &dyn Fn(&PublicKey) -> Option<Verifier>,
) -> Result<(PublicKey, String), AuthError> {
    parse(received, check.now_ms, check.window_ms, method, path, body)?
        .verify(check.domain, verifier)
}

/// A request that passed every check of [`verify`] but the signature's: what remains is to
/// check `signature` by `key` over `message` under the service's domain tag (alone with
/// [`Signed::verify`], or with others through [`crate::verify_all`], which gives the same
/// answer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// The signer's key (not yet known to be a point of the curve).
    pub key: PublicKey,
    /// The nonce.
    pub nonce: String,
    /// The message the signature must cover ([`message`]), without the domain tag.
    pub message: Vec<u8>,
    /// The signature.
    pub signature: Signature,
}

impl Signed {
    /// Checks the signature under `domain` with the decompressed key from `verifier`; returns
    /// the key and the nonce, or [`AuthError::BadSignature`].
    pub fn verify(
        self,
        domain: &[u8],
        verifier: &dyn Fn(&PublicKey) -> Option<Verifier>,
    ) -> Result<(PublicKey, String), AuthError> {
        let valid = verifier(&self.key)
            .is_some_and(|verifier| verifier.verify(domain, &self.message, &self.signature));
        if !valid {
            return Err(AuthError::BadSignature);
        }
        Ok((self.key, self.nonce))
    }
}

/// Checks a request's headers and its timestamp against `now_ms` and `window_ms`, in the order
/// and with the answers of [`verify`], and builds the message its signature must cover; does
/// not check the signature.
pub fn parse(
    received: &Received,
    now_ms: i64,
    window_ms: i64,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Signed, AuthError> {
    let key = received.key.ok_or(AuthError::Missing(KEY))?;
    let timestamp = received.timestamp.ok_or(AuthError::Missing(TIMESTAMP))?;
    let nonce = received.nonce.ok_or(AuthError::Missing(NONCE))?;
    let signature = received.signature.ok_or(AuthError::Missing(SIGNATURE))?;
    let key = PublicKey::from_hex(key).map_err(|_| AuthError::Malformed {
        header: KEY,
        problem: "is not an ed25519 public key (64 hex digits)",
    })?;
    let timestamp: i64 = timestamp.parse().map_err(|_| AuthError::Malformed {
        header: TIMESTAMP,
        problem: "is not a whole number of milliseconds since 1970-01-01 UTC",
    })?;
    if nonce.len() < 8
        || nonce.len() > 64
        || !nonce
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    {
        return Err(AuthError::Malformed {
            header: NONCE,
            problem: "must be 8 to 64 characters from A-Z a-z 0-9 - _",
        });
    }
    let mut bytes = [0u8; 64];
    if signature.len() != 128 || hex::decode_to_slice(signature, &mut bytes).is_err() {
        return Err(AuthError::Malformed {
            header: SIGNATURE,
            problem: "is not an ed25519 signature (128 hex digits)",
        });
    }
    let skew = timestamp.saturating_sub(now_ms);
    if skew.unsigned_abs() > window_ms.unsigned_abs() {
        return Err(AuthError::Stale {
            skew_ms: skew,
            window_ms,
        });
    }
    Ok(Signed {
        key,
        nonce: nonce.to_string(),
        message: message(method, path, timestamp, nonce, body),
        signature: Signature(bytes),
    })
}

/// What a key did recently: its nonces inside the window and its request budget.
struct KeyRecord {
    nonces: HashMap<String, i64>,
    expiry: VecDeque<(i64, String)>,
    /// Requests left in the current second, and which second that is.
    budget: u32,
    second: i64,
}

/// Why [`Nonces::admit`] refused a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The nonce was seen before.
    Replayed,
    /// The key used its requests for this second.
    RateLimited,
}

/// Nonces seen per key inside the window, and each key's requests per second. Sharded so that
/// concurrent requests of different keys rarely wait for each other.
pub struct Nonces {
    shards: Vec<Mutex<HashMap<[u8; 32], KeyRecord>>>,
    /// Decompressed keys, per shard; a shard is emptied when it holds too many.
    verifiers: Vec<Mutex<HashMap<[u8; 32], Verifier>>>,
    window_ms: i64,
    per_second: u32,
}

impl Nonces {
    /// Remembers nonces for `window_ms` (twice the timestamp window covers both sides of it)
    /// and allows `per_second` requests per key and second.
    pub fn new(window_ms: i64, per_second: u32) -> Self {
        Nonces {
            shards: (0..64).map(|_| Mutex::new(HashMap::new())).collect(),
            verifiers: (0..64).map(|_| Mutex::new(HashMap::new())).collect(),
            window_ms,
            per_second,
        }
    }

    /// The decompressed `key`, from the cache or computed and kept.
    pub fn verifier(&self, key: &PublicKey) -> Option<Verifier> {
        /// Keys kept per shard (64 shards) before the shard is emptied.
        const PER_SHARD: usize = 4_096;
        let shard = &self.verifiers[key.0[0] as usize % self.verifiers.len()];
        if let Some(found) = shard
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&key.0)
        {
            return Some(found.clone());
        }
        let verifier = key.verifier()?;
        let mut shard = shard
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if shard.len() >= PER_SHARD {
            shard.clear();
        }
        shard.insert(key.0, verifier.clone());
        Some(verifier)
    }

    /// Admits one request of `key` with `nonce` at `now_ms`: refused if the nonce was used
    /// inside the window or the key is over its rate.
    pub fn admit(&self, key: &PublicKey, nonce: &str, now_ms: i64) -> Result<(), Admission> {
        let shard = &self.shards[key.0[0] as usize % self.shards.len()];
        let mut shard = shard
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let record = shard.entry(key.0).or_insert_with(|| KeyRecord {
            nonces: HashMap::new(),
            expiry: VecDeque::new(),
            budget: 0,
            // No second yet: the first request starts one with a full budget.
            second: i64::MIN,
        });
        let second = now_ms.div_euclid(1_000);
        if record.second != second {
            record.second = second;
            record.budget = self.per_second;
        }
        while let Some((expires, _)) = record.expiry.front() {
            if *expires > now_ms {
                break;
            }
            let (_, old) = record.expiry.pop_front().expect("checked above");
            record.nonces.remove(&old);
        }
        if record.nonces.contains_key(nonce) {
            return Err(Admission::Replayed);
        }
        if record.budget == 0 {
            return Err(Admission::RateLimited);
        }
        record.budget -= 1;
        let expires = now_ms + 2 * self.window_ms;
        record.nonces.insert(nonce.to_string(), expires);
        record.expiry.push_back((expires, nonce.to_string()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received<'a>(headers: &'a [(&'static str, String); 4]) -> Received<'a> {
        Received {
            key: Some(&headers[0].1),
            timestamp: Some(&headers[1].1),
            nonce: Some(&headers[2].1),
            signature: Some(&headers[3].1),
        }
    }

    fn check(domain: &[u8], now_ms: i64) -> Check<'_> {
        Check {
            domain,
            now_ms,
            window_ms: WINDOW_MS,
        }
    }

    #[test]
    fn a_signed_read_verifies_and_any_change_breaks_it() {
        let keypair = Keypair::derived(1, "auditor");
        let headers = sign(
            &keypair,
            READ_DOMAIN,
            "GET",
            "/v1/blocks/3",
            b"",
            1_000,
            "nonce-0001",
        );
        let verify = |received: &Received, domain: &[u8], method, path, body: &[u8], now| {
            super::verify(
                received,
                check(domain, now),
                method,
                path,
                body,
                &PublicKey::verifier,
            )
        };
        assert_eq!(
            verify(
                &received(&headers),
                READ_DOMAIN,
                "GET",
                "/v1/blocks/3",
                b"",
                1_500
            ),
            Ok((keypair.public(), "nonce-0001".to_string()))
        );
        for (method, path, body) in [
            ("POST", "/v1/blocks/3", &b""[..]),
            ("GET", "/v1/blocks/4", b""),
            ("GET", "/v1/blocks/3?x=1", b""),
            ("GET", "/v1/blocks/3", b"x"),
        ] {
            assert_eq!(
                verify(&received(&headers), READ_DOMAIN, method, path, body, 1_500),
                Err(AuthError::BadSignature),
                "{method} {path}"
            );
        }
        // Another service's domain tag, the same request otherwise.
        assert_eq!(
            verify(
                &received(&headers),
                b"nestgrid-api-v1",
                "GET",
                "/v1/blocks/3",
                b"",
                1_500
            ),
            Err(AuthError::BadSignature)
        );
        let mut other = headers.clone();
        other[2].1 = "nonce-0002".into();
        assert_eq!(
            verify(
                &received(&other),
                READ_DOMAIN,
                "GET",
                "/v1/blocks/3",
                b"",
                1_500
            ),
            Err(AuthError::BadSignature)
        );
        let mut stranger = headers.clone();
        stranger[0].1 = Keypair::derived(2, "mallory").public().to_hex();
        assert_eq!(
            verify(
                &received(&stranger),
                READ_DOMAIN,
                "GET",
                "/v1/blocks/3",
                b"",
                1_500
            ),
            Err(AuthError::BadSignature)
        );
        for now in [1_000 + WINDOW_MS + 1, 1_000 - WINDOW_MS - 1] {
            assert!(matches!(
                verify(
                    &received(&headers),
                    READ_DOMAIN,
                    "GET",
                    "/v1/blocks/3",
                    b"",
                    now
                ),
                Err(AuthError::Stale { .. })
            ));
        }
        let mut missing = received(&headers);
        missing.nonce = None;
        assert_eq!(
            verify(&missing, READ_DOMAIN, "GET", "/v1/blocks/3", b"", 1_500),
            Err(AuthError::Missing(NONCE))
        );
        assert!(Received::default().is_anonymous());
        assert!(!missing.is_anonymous());
    }

    #[test]
    fn parse_checks_everything_but_the_signature_and_verify_is_parse_then_check() {
        let keypair = Keypair::derived(1, "agent");
        let other = Keypair::derived(2, "agent");
        let headers = sign(
            &keypair,
            READ_DOMAIN,
            "POST",
            "/v1/x?a=1",
            b"{}",
            1_000,
            "nonce-0001",
        );
        let signed = parse(
            &received(&headers),
            1_500,
            WINDOW_MS,
            "POST",
            "/v1/x?a=1",
            b"{}",
        )
        .expect("a well-formed request in the window parses");
        assert_eq!(signed.key, keypair.public());
        assert_eq!(signed.nonce, "nonce-0001");
        assert_eq!(
            signed.message,
            message("POST", "/v1/x?a=1", 1_000, "nonce-0001", b"{}")
        );
        assert_eq!(hex::encode(signed.signature.0), headers[3].1);
        assert_eq!(
            signed.clone().verify(READ_DOMAIN, &PublicKey::verifier),
            Ok((keypair.public(), "nonce-0001".to_string()))
        );
        assert_eq!(
            signed
                .clone()
                .verify(b"nestgrid-api-v1", &PublicKey::verifier),
            Err(AuthError::BadSignature)
        );
        // A signature by another key parses (the signature is not checked) but does not verify,
        // alone or in a batch, where the good one still does.
        let mut forged = headers.clone();
        forged[3].1 = sign(
            &other,
            READ_DOMAIN,
            "POST",
            "/v1/x?a=1",
            b"{}",
            1_000,
            "nonce-0001",
        )[3]
        .1
        .clone();
        let bad = parse(
            &received(&forged),
            1_500,
            WINDOW_MS,
            "POST",
            "/v1/x?a=1",
            b"{}",
        )
        .expect("the headers are well formed");
        assert_eq!(
            bad.clone().verify(READ_DOMAIN, &PublicKey::verifier),
            Err(AuthError::BadSignature)
        );
        let checks: Vec<crate::SignatureCheck> = [&signed, &bad, &signed]
            .iter()
            .map(|signed| crate::SignatureCheck {
                key: &signed.key,
                domain: READ_DOMAIN,
                message: &signed.message,
                signature: &signed.signature,
            })
            .collect();
        assert_eq!(crate::verify_all(&checks), vec![true, false, true]);
        // Every refusal before the signature is the one `verify` gives, in the same order.
        let mut cases: Vec<[(&'static str, String); 4]> = Vec::new();
        for (index, bad_value) in ["abc", "soon", "short", "zz"].into_iter().enumerate() {
            let mut case = forged.clone();
            case[index].1 = bad_value.to_string();
            cases.push(case);
        }
        let mut stale = headers.clone();
        stale[1].1 = (1_500 + WINDOW_MS + 1).to_string();
        cases.push(stale);
        for case in &cases {
            let parsed = parse(
                &received(case),
                1_500,
                WINDOW_MS,
                "POST",
                "/v1/x?a=1",
                b"{}",
            );
            let verified = verify(
                &received(case),
                check(READ_DOMAIN, 1_500),
                "POST",
                "/v1/x?a=1",
                b"{}",
                &PublicKey::verifier,
            );
            assert!(parsed.is_err(), "{case:?}");
            assert_eq!(parsed.err(), verified.err(), "{case:?}");
        }
        let mut missing = received(&headers);
        missing.signature = None;
        assert_eq!(
            parse(&missing, 1_500, WINDOW_MS, "POST", "/v1/x?a=1", b"{}"),
            Err(AuthError::Missing(SIGNATURE))
        );
    }

    #[test]
    fn nonces_are_accepted_once_and_forgotten_after_the_window() {
        let key = Keypair::derived(1, "agent").public();
        let nonces = Nonces::new(1_000, 100);
        assert_eq!(nonces.admit(&key, "abcdefgh", 0), Ok(()));
        assert_eq!(nonces.admit(&key, "abcdefgh", 10), Err(Admission::Replayed));
        assert_eq!(nonces.admit(&key, "abcdefgi", 10), Ok(()));
        // After twice the window the old nonce is forgotten (its timestamp is stale by then).
        assert_eq!(nonces.admit(&key, "abcdefgh", 2_001), Ok(()));
    }

    #[test]
    fn each_key_has_a_budget_per_second() {
        let key = Keypair::derived(1, "agent").public();
        let other = Keypair::derived(2, "agent").public();
        let nonces = Nonces::new(1_000, 3);
        for index in 0..3 {
            assert_eq!(nonces.admit(&key, &format!("nonce-{index:04}"), 5), Ok(()));
        }
        assert_eq!(
            nonces.admit(&key, "nonce-9999", 6),
            Err(Admission::RateLimited)
        );
        assert_eq!(nonces.admit(&other, "nonce-9999", 6), Ok(()));
        assert_eq!(nonces.admit(&key, "nonce-9999", 1_000), Ok(()));
    }
}
