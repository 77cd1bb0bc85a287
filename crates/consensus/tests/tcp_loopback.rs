//! Four validators in one process over authenticated TCP on 127.0.0.1 with the commonware
//! tokio runtime.

mod common;

use common::*;
use commonware_runtime::{Clock as _, Runner as _, Spawner as _, Supervisor as _, tokio};
use nestgrid_consensus::{NetworkConfig, Timeouts, run_tcp_validator};
use std::{
    net::{SocketAddr, TcpListener},
    time::Duration,
};

const BLOCKS: u64 = 20;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn four_tcp_validators_finalize_twenty_blocks() {
    let storage = tempfile::tempdir().unwrap();
    let committee = Committee::new(4);
    let addresses: Vec<SocketAddr> = (0..4)
        .map(|_| SocketAddr::from(([127, 0, 0, 1], free_port())))
        .collect();
    let peers: Vec<_> = committee
        .public_keys
        .iter()
        .copied()
        .zip(addresses.iter().copied())
        .collect();
    let runtime = tokio::Runner::new(tokio::Config::new().with_storage_directory(storage.path()));
    runtime.start(|context| async move {
        let apps: Vec<ToyApp> = (0..4).map(|_| ToyApp::default()).collect();
        let mut handles = Vec::new();
        for (index, app) in apps.iter().enumerate() {
            let mut config = committee.config(index);
            config.timeouts = Timeouts::default();
            let network = NetworkConfig {
                listen: addresses[index],
                peers: peers.clone(),
                local: true,
            };
            let app = app.clone();
            handles.push(context.child("validator").with_attribute("index", index).spawn(
                move |context| async move {
                    let result = run_tcp_validator(context, config, network, app).await;
                    panic!("validator {index} stopped: {result:?}");
                },
            ));
        }
        let start = context.current();
        let mut first_block = None;
        loop {
            let heights: Vec<u64> = apps.iter().map(ToyApp::height).collect();
            if first_block.is_none() && heights.iter().all(|&height| height >= 1) {
                first_block = Some(context.current());
            }
            if heights.iter().all(|&height| height >= BLOCKS) {
                break;
            }
            let waited = context.current().duration_since(start).unwrap();
            assert!(waited < Duration::from_secs(120), "stuck at heights {heights:?}");
            context.sleep(Duration::from_millis(20)).await;
        }
        let end = context.current();
        let first_block = first_block.unwrap();
        let steady = end.duration_since(first_block).unwrap();
        eprintln!(
            "tcp loopback: first block after {:?}, blocks 1..{BLOCKS} in {steady:?} ({:.1} blocks/s)",
            first_block.duration_since(start).unwrap(),
            (BLOCKS - 1) as f64 / steady.as_secs_f64()
        );
        let all: Vec<&ToyApp> = apps.iter().collect();
        assert!(assert_same_chain(&all) as u64 >= BLOCKS);
        for app in &apps {
            committee.assert_certificates(&app.blocks());
        }
        for handle in handles {
            handle.abort();
        }
    });
}
