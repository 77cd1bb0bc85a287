//! Running a validator over authenticated, encrypted TCP (commonware `p2p::authenticated::lookup`).

use crate::engine::{Channels, max_message_size, private_key, run_validator};
use crate::{Application, Config, Error, P2P_NAMESPACE, PublicKeyBytes};
use commonware_codec::DecodeExt as _;
use commonware_cryptography::{ChaCha20Poly1305, Signer as _, ed25519};
use commonware_p2p::{Address, AddressableManager as _, authenticated::lookup};
use commonware_runtime::{
    Clock, Metrics, Network, Quota, Resolver, Runner as _, Spawner, Storage, tokio,
};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{NZU32, NZUsize, ordered::Map};
use rand_core::CryptoRng;
use std::{net::SocketAddr, num::NonZeroUsize, path::PathBuf, time::Duration};

/// Messages per second a peer may send on one channel.
const CHANNEL_RATE: Quota = Quota::per_second(NZU32!(10_000));

/// Where this validator listens and where the others are.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Every validator's public key and address (this validator's own entry is allowed).
    pub peers: Vec<(PublicKeyBytes, SocketAddr)>,
    /// Use the low-latency profile meant for loopback and private networks (short dial
    /// cooldowns, private addresses allowed); otherwise commonware's production profile.
    pub local: bool,
}

/// Runs a validator over TCP on the given runtime context until it stops.
pub async fn run_tcp_validator<E, A>(
    context: E,
    config: Config,
    network: NetworkConfig,
    application: A,
) -> Result<(), Error>
where
    E: Spawner + Clock + CryptoRng + rand_core::Rng + Storage + Metrics + Network + Resolver,
    A: Application,
{
    let signer = private_key(&config.private_key)?;
    let me = signer.public_key();
    let participants = u32::try_from(config.validators.len())
        .map_err(|_| Error::InvalidValidators(crate::CertificateError::InvalidValidatorSet))?;
    let max_size = max_message_size(participants, config.max_payload_bytes);
    let handshake = Cups::<_, ChaCha20Poly1305>::new(
        Sake {
            signer,
            synchrony_bound: Duration::from_secs(5),
            max_handshake_age: Duration::from_secs(10),
            version: sake::Version::V1,
        },
        cups::Version::V1,
    );
    let max_peers = NonZeroUsize::new(network.peers.len().max(config.validators.len()) + 1)
        .unwrap_or(NZUsize!(1));
    let p2p_config = if network.local {
        lookup::Config::local(
            handshake,
            P2P_NAMESPACE,
            network.listen,
            max_peers,
            max_size,
            NZUsize!(1_024),
        )
    } else {
        lookup::Config::recommended(
            handshake,
            P2P_NAMESPACE,
            network.listen,
            max_peers,
            max_size,
            NZUsize!(1_024),
        )
    };
    let mut peers = Vec::with_capacity(network.peers.len() + 1);
    for (index, (key, address)) in network.peers.iter().enumerate() {
        let key = ed25519::PublicKey::decode(key.to_vec()).map_err(|_| Error::InvalidPeer {
            index,
            reason: "not a valid ed25519 public key".to_string(),
        })?;
        if key != me {
            peers.push((key, Address::from(*address)));
        }
    }
    peers.push((me, Address::from(network.listen)));
    let peers: Map<ed25519::PublicKey, Address> =
        peers.try_into().map_err(|_| Error::InvalidPeer {
            index: 0,
            reason: "duplicate public key".to_string(),
        })?;

    let (mut p2p, mut oracle) = lookup::Network::new(context.child("p2p"), p2p_config);
    let _ = oracle.track(0, peers);
    let mut register = |channel: u64| p2p.register(channel, CHANNEL_RATE);
    let channels = Channels {
        votes: register(Channels::<(), ()>::NUMBERS[0]),
        certificates: register(Channels::<(), ()>::NUMBERS[1]),
        resolver: register(Channels::<(), ()>::NUMBERS[2]),
        broadcast: register(Channels::<(), ()>::NUMBERS[3]),
        backfill: register(Channels::<(), ()>::NUMBERS[4]),
    };
    let _p2p_handle = p2p.start();
    run_validator(
        context.child("validator"),
        config,
        application,
        channels,
        oracle.clone(),
        oracle,
    )
    .await
}

/// Starts a commonware tokio runtime storing under `storage_directory` and runs one TCP
/// validator in it until it stops (for a validator process's `main`).
pub fn run_tcp_validator_blocking<A: Application>(
    storage_directory: impl Into<PathBuf>,
    config: Config,
    network: NetworkConfig,
    application: A,
) -> Result<(), Error> {
    let runtime_config = tokio::Config::new().with_storage_directory(storage_directory);
    tokio::Runner::new(runtime_config).start(|context| async move {
        run_tcp_validator(context, config, network, application).await
    })
}
