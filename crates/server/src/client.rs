//! A small HTTP client that signs its requests: used by `nestgrid agent`, `nestgrid loadgen`
//! and the tests. Keeps connections alive.

use crate::auth;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as Http;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use nestgrid_ledger::Keypair;
use serde_json::Value;

/// A request that got no HTTP answer.
#[derive(Debug, thiserror::Error)]
#[error("{method} {url}: {message}")]
pub struct ClientError {
    /// Method.
    pub method: String,
    /// Full URL.
    pub url: String,
    /// What went wrong.
    pub message: String,
}

/// An answer: status, content type and the body parsed as JSON (`Null` when empty or not JSON).
#[derive(Clone, Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `content-type`.
    pub content_type: String,
    /// The body as JSON.
    pub body: Value,
}

/// A client for one exchange, signing with one key (or none).
#[derive(Clone)]
pub struct Client {
    base: String,
    keypair: Option<Keypair>,
    http: Http<HttpConnector, Full<Bytes>>,
}

impl Client {
    /// A client for the exchange at `base` (like `http://127.0.0.1:8080`).
    pub fn new(base: &str, keypair: Option<Keypair>) -> Client {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Client {
            base: base.trim_end_matches('/').to_string(),
            keypair,
            http: Http::builder(TokioExecutor::new())
                .pool_max_idle_per_host(64)
                .build(connector),
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The signature headers for a request (none if the client has no key): for requests
    /// made with another library, such as a WebSocket upgrade.
    pub fn sign_headers(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Vec<(&'static str, String)> {
        match &self.keypair {
            None => Vec::new(),
            Some(keypair) => auth::sign(
                keypair,
                method,
                path,
                body,
                auth::now_ms(),
                &auth::new_nonce(),
            )
            .to_vec(),
        }
    }

    /// A signed request (unsigned if the client has no key). `path` includes any query.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ClientError> {
        let bytes = body
            .map(|body| body.to_string().into_bytes())
            .unwrap_or_default();
        self.send_raw(method, path, bytes, &auth::new_nonce(), auth::now_ms())
            .await
    }

    /// A request with the body, nonce and timestamp given (tests use it to replay and to sign
    /// with an old timestamp).
    pub async fn send_raw(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        nonce: &str,
        timestamp_ms: i64,
    ) -> Result<Answer, ClientError> {
        let url = format!("{}{}", self.base, path);
        let fail = |message: String| ClientError {
            method: method.to_string(),
            url: url.clone(),
            message,
        };
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(&url)
            .header("content-type", "application/json");
        if let Some(keypair) = &self.keypair {
            for (name, value) in auth::sign(keypair, method, path, &body, timestamp_ms, nonce) {
                request = request.header(name, value);
            }
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|error| fail(error.to_string()))?;
        let response = self
            .http
            .request(request)
            .await
            .map_err(|error| fail(format!("{error:?}")))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|error| fail(error.to_string()))?
            .to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer {
            status,
            content_type,
            body,
        })
    }
}
