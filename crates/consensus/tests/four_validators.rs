//! Four honest validators on a healthy simulated network finalize the same chain.

mod common;

use common::*;
use commonware_runtime::Runner as _;
use std::time::Duration;

#[test]
fn four_honest_validators_finalize_the_same_chain() {
    let seed = seed(1);
    runner(seed, Duration::from_secs(120)).start(|context| async move {
        let committee = Committee::new(4);
        let oracle = network(&context, &committee, GOOD_LINK).await;
        let apps: Vec<ToyApp> = (0..4).map(|_| ToyApp::default()).collect();
        let mut handles = Vec::new();
        for (index, app) in apps.iter().enumerate() {
            handles.push(start(&context, &oracle, &committee, index, app.clone()).await);
        }
        let refs: Vec<&ToyApp> = apps.iter().collect();
        let elapsed = wait_for_height(&context, &refs, 30).await;
        eprintln!("30 blocks in {elapsed:?} simulated");
        let common = assert_same_chain(&refs);
        assert!(common >= 30);
        for app in &apps {
            let blocks = app.blocks();
            for block in &blocks {
                assert_eq!(
                    block.payload,
                    toy_payload(block.height),
                    "only non-empty toy payloads expected here"
                );
            }
            committee.assert_certificates(&blocks);
        }
        // Another validator set, or one flipped signature bit, breaks the certificate.
        let genuine = apps[0].blocks()[4].clone();
        let strangers: Vec<_> = (10..14)
            .map(|seed| {
                nestgrid_consensus::public_key(&nestgrid_consensus::private_key_from_seed(seed))
                    .unwrap()
            })
            .collect();
        assert!(nestgrid_consensus::verify_certificate(&strangers, &genuine).is_err());
        let mut flipped = genuine.clone();
        let last_signature_byte = flipped.certificate.len() - 5;
        flipped.certificate[last_signature_byte] ^= 1;
        assert_eq!(
            nestgrid_consensus::verify_certificate(&committee.public_keys, &flipped),
            Err(nestgrid_consensus::CertificateError::BadSignatures)
        );
        // Tampering with the block breaks the certificate.
        let mut forged = apps[0].blocks()[4].clone();
        forged.payload = b"forged".to_vec();
        assert!(nestgrid_consensus::verify_certificate(&committee.public_keys, &forged).is_err());
        for handle in handles {
            handle.abort();
        }
    });
}
