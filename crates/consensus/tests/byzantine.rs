//! One Byzantine validator among four (commonware's `Conflicter` mock: it signs conflicting
//! notarize and finalize votes for every proposal it sees). Honest validators keep
//! finalizing and never disagree.

mod common;

use common::*;
use commonware_consensus::simplex::{mocks::conflicter, scheme::ed25519::Scheme};
use commonware_cryptography::Sha256;
use commonware_runtime::{Runner as _, Supervisor as _};
use commonware_utils::ordered::Set;
use std::time::Duration;

#[test]
fn conflicting_voter_cannot_split_honest_validators() {
    let seed = seed(6);
    runner(seed, Duration::from_secs(300)).start(|context| async move {
        let committee = Committee::new(4);
        let oracle = network(&context, &committee, GOOD_LINK).await;
        let apps: Vec<ToyApp> = (0..3).map(|_| ToyApp::default()).collect();
        let mut handles = Vec::new();
        for (index, app) in apps.iter().enumerate() {
            handles.push(start(&context, &oracle, &committee, index, app.clone()).await);
        }
        // Validator 3 is Byzantine.
        let byzantine = 3;
        let participants = Set::try_from(committee.keys()).unwrap();
        let key = commonware_codec::DecodeExt::decode(committee.private_keys[byzantine].to_vec())
            .unwrap();
        let scheme = Scheme::signer(nestgrid_consensus::NAMESPACE, participants, key).unwrap();
        let channels = channels(&oracle, &committee, byzantine).await;
        let conflicter = conflicter::Conflicter::<_, _, Sha256>::new(
            context.child("byzantine"),
            conflicter::Config { scheme },
        );
        handles.push(conflicter.start(channels.votes));

        let honest: Vec<&ToyApp> = apps.iter().collect();
        let elapsed = wait_for_height(&context, &honest, 20).await;
        eprintln!("3 honest + 1 conflicter: 20 blocks in {elapsed:?} simulated");
        assert!(assert_same_chain(&honest) >= 20);
        for app in &apps {
            committee.assert_certificates(&app.blocks());
        }
        for handle in handles {
            handle.abort();
        }
    });
}
