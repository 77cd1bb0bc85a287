//! Helpers of the tests with real validator processes: a local network written by
//! `nestgrid-node testnet`, its processes, and HTTP calls to their APIs.

// Each test file uses a part of the helpers.
#![allow(dead_code)]

use nestgrid_ledger::{Body, Hash, KeyFile, Keypair, PublicKey, SignedTransaction, Transaction};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Validators of the test network.
pub const VALIDATORS: usize = 4;

/// A base port with the 4 consensus ports and the 4 API ports (base + 100) free. All of
/// them lie below Linux's ephemeral range (32768 and up), so that no outgoing connection of
/// this or another test can take one between this check and the validators' binding.
pub fn free_base_port(seed: u64) -> u16 {
    for attempt in 0..200u64 {
        let base = 10_000 + ((seed * 7_919 + attempt * 211) % 22_000) as u16;
        let free = (0..VALIDATORS as u16)
            .flat_map(|i| [base + i, base + 100 + i])
            .all(|port| TcpListener::bind(("127.0.0.1", port)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no free ports");
}

pub struct Net {
    pub dir: PathBuf,
    pub base: u16,
    children: Vec<Option<Child>>,
}

impl Net {
    pub fn start(dir: &Path, base: u16) -> Net {
        let output = Command::new(env!("CARGO_BIN_EXE_nestgrid-node"))
            .args([
                "testnet",
                "--validators",
                "4",
                "--base-port",
                &base.to_string(),
                "--dir",
            ])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut net = Net {
            dir: dir.to_path_buf(),
            base,
            children: (0..VALIDATORS).map(|_| None).collect(),
        };
        for index in 0..VALIDATORS {
            net.spawn(index);
        }
        net
    }

    pub fn spawn(&mut self, index: usize) {
        let log = std::fs::File::create(self.dir.join(format!("log-{index}.txt"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_nestgrid-node"))
            .args(["run", "--config"])
            .arg(self.dir.join(format!("validator-{index}.json")))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children[index] = Some(child);
    }

    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.children[index].take() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
        }
    }

    pub fn api(&self, index: usize) -> String {
        format!("http://127.0.0.1:{}", self.base + 100 + index as u16)
    }

    pub fn head(&self, index: usize) -> Option<u64> {
        let mut response = ureq::get(format!("{}/v1/head", self.api(index)))
            .config()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .call()
            .ok()?;
        let json: serde_json::Value =
            serde_json::from_str(&response.body_mut().read_to_string().ok()?).ok()?;
        json["height"].as_u64()
    }

    pub fn submit(&self, index: usize, tx: &SignedTransaction) -> Option<u16> {
        let result = ureq::post(format!("{}/v1/transactions", self.api(index)))
            .config()
            .timeout_global(Some(Duration::from_secs(2)))
            .http_status_as_error(false)
            .build()
            .header("content-type", "application/octet-stream")
            .send(&tx.to_bytes()[..]);
        result.ok().map(|response| response.status().as_u16())
    }

    pub fn committed(&self, index: usize, hash: &Hash) -> bool {
        let Ok(mut response) = ureq::get(format!("{}/v1/transactions/{hash}", self.api(index)))
            .config()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .call()
        else {
            return false;
        };
        let json: serde_json::Value = response
            .body_mut()
            .read_to_string()
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        json["status"] == "committed"
    }

    pub fn wait(&self, what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        while !done() {
            if start.elapsed() > limit {
                let logs: Vec<String> = (0..VALIDATORS)
                    .map(|i| {
                        std::fs::read_to_string(self.dir.join(format!("log-{i}.txt")))
                            .unwrap_or_default()
                    })
                    .collect();
                let heads: Vec<Option<u64>> = (0..VALIDATORS).map(|i| self.head(i)).collect();
                panic!("{what}: not within {limit:?}; heights {heads:?}; logs: {logs:#?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for index in 0..VALIDATORS {
            self.kill(index);
        }
    }
}

pub fn key(dir: &Path, name: &str) -> Keypair {
    let file: KeyFile =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.key"))).unwrap())
            .unwrap();
    file.keypair().unwrap()
}

pub struct Signer {
    pub chain_id: String,
    pub nonces: BTreeMap<PublicKey, u64>,
}

impl Signer {
    pub fn sign(&mut self, keypair: &Keypair, body: Body) -> SignedTransaction {
        let nonce = self.nonces.entry(keypair.public()).or_insert(0);
        *nonce += 1;
        Transaction {
            chain_id: self.chain_id.clone(),
            signer: keypair.public(),
            nonce: *nonce,
            body,
        }
        .sign(keypair)
    }
}
