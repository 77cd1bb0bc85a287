//! Signed requests.
//!
//! Every request that acts for a key carries four headers:
//!
//! | header | value |
//! | --- | --- |
//! | `x-nestgrid-key` | the signer's ed25519 public key, 64 hex digits |
//! | `x-nestgrid-timestamp` | milliseconds since 1970-01-01 UTC when it was signed |
//! | `x-nestgrid-nonce` | 8 to 64 characters from `A-Z a-z 0-9 - _`, never reused by the key |
//! | `x-nestgrid-signature` | ed25519 signature, 128 hex digits |
//!
//! The signed bytes are the domain tag's length as a 4-byte little-endian integer, the domain
//! tag `nestgrid-api-v1` itself, and the message `METHOD\nPATH\nTIMESTAMP\nNONCE\nSHA256(BODY)`
//! (the path with its query string, the body's hash as 64 lowercase hex digits: the hash of
//! nothing for requests without a body). This is the ledger's signing rule with another domain
//! tag, so a request signature is never a valid transaction signature and back. A
//! request is refused when its timestamp is more than [`DEFAULT_WINDOW_MS`] from the server's
//! clock or when its key used the nonce before inside that window: a captured request cannot
//! be replayed, and a server only has to remember a window's nonces.
//!
//! The scheme itself (signed bytes, headers, checks, nonce cache) is
//! [`nestgrid_ledger::request`], which the validators' API uses with its own domain tag; this
//! module fixes the exchange's tag and adds its clock and nonces.

use nestgrid_ledger::request::{self, Check};
use nestgrid_ledger::{Keypair, PublicKey, Verifier};

pub use nestgrid_ledger::request::{
    Admission, AuthError, KEY, NONCE, Nonces, Received, SIGNATURE, Signed, TIMESTAMP, message,
};

/// Domain tag of request signatures (never valid for ledger transactions and back).
pub const DOMAIN: &[u8] = b"nestgrid-api-v1";
/// How far a request's timestamp may be from the server's clock.
pub const DEFAULT_WINDOW_MS: i64 = request::WINDOW_MS;

/// The four headers of a request signed by `keypair`.
pub fn sign(
    keypair: &Keypair,
    method: &str,
    path: &str,
    body: &[u8],
    timestamp_ms: i64,
    nonce: &str,
) -> [(&'static str, String); 4] {
    request::sign(keypair, DOMAIN, method, path, body, timestamp_ms, nonce)
}

/// A fresh random nonce (22 characters).
pub fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    hex::encode(bytes)
}

/// Milliseconds since the Unix epoch, now: the live exchange's one reading of the wall clock
/// (the simulator's crates never read it).
#[allow(clippy::disallowed_methods)]
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// The exchange's wording of a refused signature: a missing header points to the API's
/// documentation.
pub fn describe(error: &AuthError) -> String {
    match error {
        AuthError::Missing(_) => format!("{error} (see /docs)"),
        _ => error.to_string(),
    }
}

/// Checks a request's signature and timestamp (not its nonce: see [`Nonces::admit`]).
pub fn verify(
    received: &Received,
    method: &str,
    path: &str,
    body: &[u8],
    now_ms: i64,
    window_ms: i64,
) -> Result<(PublicKey, String), AuthError> {
    verify_with(received, method, path, body, now_ms, window_ms, &|key| {
        key.verifier()
    })
}

/// Checks a request's headers and timestamp and builds the message its signature must cover,
/// without checking the signature: the checks of [`verify`] before the signature's, with the
/// same answers. The exchange checks the signature on its signature thread
/// ([`crate::signatures`]).
pub fn parse(
    received: &Received,
    method: &str,
    path: &str,
    body: &[u8],
    now_ms: i64,
    window_ms: i64,
) -> Result<Signed, AuthError> {
    request::parse(received, now_ms, window_ms, method, path, body)
}

/// [`verify`], with the decompressed key from `verifier` (a cache: see
/// [`Nonces::verifier`]).
pub fn verify_with(
    received: &Received,
    method: &str,
    path: &str,
    body: &[u8],
    now_ms: i64,
    window_ms: i64,
    verifier: &dyn Fn(&PublicKey) -> Option<Verifier>,
) -> Result<(PublicKey, String), AuthError> {
    let check = Check {
        domain: DOMAIN,
        now_ms,
        window_ms,
    };
    request::verify(received, check, method, path, body, verifier)
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

    #[test]
    fn a_signed_request_verifies_and_any_change_breaks_it() {
        let keypair = Keypair::derived(1, "agent");
        let headers = sign(&keypair, "POST", "/v1/tenders", b"{}", 1_000, "nonce-0001");
        let ok = verify(
            &received(&headers),
            "POST",
            "/v1/tenders",
            b"{}",
            1_500,
            30_000,
        );
        assert_eq!(ok, Ok((keypair.public(), "nonce-0001".to_string())));
        for (method, path, body) in [
            ("GET", "/v1/tenders", &b"{}"[..]),
            ("POST", "/v1/tenders?all=1", b"{}"),
            ("POST", "/v1/tenders", b"{ }"),
        ] {
            assert_eq!(
                verify(&received(&headers), method, path, body, 1_500, 30_000),
                Err(AuthError::BadSignature)
            );
        }
        let mut other = headers.clone();
        other[2].1 = "nonce-0002".into();
        assert_eq!(
            verify(
                &received(&other),
                "POST",
                "/v1/tenders",
                b"{}",
                1_500,
                30_000
            ),
            Err(AuthError::BadSignature)
        );
        assert!(matches!(
            verify(
                &received(&headers),
                "POST",
                "/v1/tenders",
                b"{}",
                40_000,
                30_000
            ),
            Err(AuthError::Stale { .. })
        ));
    }

    #[test]
    fn exchange_and_validator_signatures_do_not_mix() {
        let keypair = Keypair::derived(1, "agent");
        let read = request::sign(
            &keypair,
            request::READ_DOMAIN,
            "GET",
            "/v1/tenders",
            b"",
            1_000,
            "nonce-0001",
        );
        assert_eq!(
            verify(&received(&read), "GET", "/v1/tenders", b"", 1_500, 30_000),
            Err(AuthError::BadSignature)
        );
        let exchange = sign(&keypair, "GET", "/v1/tenders", b"", 1_000, "nonce-0001");
        let check = Check {
            domain: request::READ_DOMAIN,
            now_ms: 1_500,
            window_ms: 30_000,
        };
        assert_eq!(
            request::verify(
                &received(&exchange),
                check,
                "GET",
                "/v1/tenders",
                b"",
                &PublicKey::verifier
            ),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn a_missing_header_points_to_the_documentation() {
        assert_eq!(
            describe(&AuthError::Missing(KEY)),
            "header `x-nestgrid-key` is missing: requests that act for a key are signed (see /docs)"
        );
        assert_eq!(
            describe(&AuthError::BadSignature),
            AuthError::BadSignature.to_string()
        );
    }
}
