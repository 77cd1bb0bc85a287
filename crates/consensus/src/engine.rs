//! Wiring of simplex, marshal and the application adapter, generic over the runtime and the
//! p2p network.
//!
//! Data flow: simplex asks the marshal [`Inline`] wrapper to propose and verify; the wrapper
//! fetches the parent block and calls [`Adapter`] (our marshal application), which calls the
//! user [`Application`] (a leader whose application has no work holds its proposal back for
//! up to [`crate::Timeouts::empty_block_interval`]). Finalizations flow from simplex into
//! marshal, which stores the finalized blocks and reports them in height order to
//! [`Forwarder`]; the delivery task turns each into a [`FinalizedBlock`] with its certificate,
//! calls [`Application::finalized`] and acknowledges, which lets marshal advance its processed
//! height.

use crate::block::{Block, Header, digest_bytes};
use crate::{
    Application, BlockDigest, Config, Error, FinalizedBlock, NAMESPACE, Scheme, WorkSignal,
    certificate,
};
use commonware_broadcast::buffered;
use commonware_codec::DecodeExt as _;
use commonware_consensus::{
    Heightable as _, Reporter,
    marshal::{
        self, Identifier, Update,
        core::{Actor as MarshalActor, Mailbox as MarshalMailbox, Processed},
        resolver::p2p as marshal_resolver,
        standard::{Inline, Standard},
    },
    simplex::{
        self,
        config::{Floor, ForwardPolicy, SkipBudget, SkipPolicy},
        elector::RoundRobin,
        types::Context,
    },
    types::{Epoch, FixedEpocher, Height, ViewDelta},
};
use commonware_cryptography::{
    Digested, Digestible as _, Signer as _,
    certificate::{ConstantProvider, Verifier as _},
    ed25519,
};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage, buffer::paged::CacheRef};
use commonware_storage::archive::immutable;
use commonware_utils::{Acknowledgement as _, NZDuration, NZU16, NZU64, NZUsize, sync::Mutex};
use futures::{StreamExt as _, channel::mpsc};
use rand_core::CryptoRng;
use std::{
    collections::VecDeque,
    num::{NonZeroU16, NonZeroUsize},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tracing::{debug, info, warn};

/// p2p channel numbers (identical on every validator).
pub(crate) mod channel {
    /// Individual votes.
    pub const VOTES: u64 = 0;
    /// Notarization, nullification and finalization certificates.
    pub const CERTIFICATES: u64 = 1;
    /// Certificate fetches by simplex.
    pub const RESOLVER: u64 = 2;
    /// Block broadcast by marshal's buffer.
    pub const BROADCAST: u64 = 3;
    /// Block backfill by marshal.
    pub const BACKFILL: u64 = 4;
}

const PAGE_SIZE: NonZeroU16 = NZU16!(4_096);
const PAGE_CACHE_PAGES: NonZeroUsize = NZUsize!(256);
const MAILBOX_SIZE: NonZeroUsize = NZUsize!(1_024);
/// How often pending proposals and verifications re-check the applied tip.
const POLL: Duration = Duration::from_millis(10);
/// Finalized digests remembered to recognise a late verification of a final block.
const RECENT_FINALIZED: usize = 256;

/// The five p2p channels a validator needs, as (sender, receiver) pairs.
pub struct Channels<S, R> {
    /// Channel 0: votes.
    pub votes: (S, R),
    /// Channel 1: certificates.
    pub certificates: (S, R),
    /// Channel 2: simplex certificate fetches.
    pub resolver: (S, R),
    /// Channel 3: block broadcast.
    pub broadcast: (S, R),
    /// Channel 4: block backfill.
    pub backfill: (S, R),
}

impl<S, R> Channels<S, R> {
    /// Channel numbers in field order (votes, certificates, resolver, broadcast, backfill).
    pub const NUMBERS: [u64; 5] = [
        channel::VOTES,
        channel::CERTIFICATES,
        channel::RESOLVER,
        channel::BROADCAST,
        channel::BACKFILL,
    ];
}

/// Largest p2p message any of the channels carries, for `participants` validators.
pub fn max_message_size(participants: u32, max_payload_bytes: u32) -> u32 {
    let simplex = simplex::max_payload_size::<Scheme, BlockDigest>(participants);
    let marshal =
        marshal::max_payload_size::<Standard<Block>, Scheme>(participants, &max_payload_bytes);
    commonware_p2p::max_message_size(&[simplex, marshal])
}

pub(crate) fn private_key(bytes: &[u8; 32]) -> Result<ed25519::PrivateKey, Error> {
    ed25519::PrivateKey::decode(bytes.to_vec()).map_err(|_| Error::InvalidPrivateKey)
}

fn millis(time: SystemTime) -> u64 {
    // The runtime clock never goes below the epoch; saturate rather than panic if it did.
    time.duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The last block the application applied.
#[derive(Clone, Copy, Debug)]
struct Tip {
    height: u64,
    digest: BlockDigest,
}

struct Inner<A> {
    app: A,
    /// `None` until the delivery task has initialised from storage.
    tip: Option<Tip>,
    recent: VecDeque<(u64, BlockDigest)>,
}

/// Where a parent stands relative to the applied chain.
enum ParentStatus {
    /// The parent is the applied tip: build or verify now.
    Tip,
    /// The parent is not final here yet.
    Pending,
    /// The parent can no longer be extended (a child of it, or a conflicting block, is final).
    Stale,
}

struct Shared<A> {
    inner: Mutex<Inner<A>>,
}

impl<A: Application> Shared<A> {
    fn status(inner: &Inner<A>, height: u64, digest: BlockDigest) -> ParentStatus {
        match inner.tip {
            None => ParentStatus::Pending,
            Some(tip) if tip.height == height && tip.digest == digest => ParentStatus::Tip,
            Some(tip) if tip.height < height => ParentStatus::Pending,
            Some(_) => ParentStatus::Stale,
        }
    }

    fn is_recent_final(inner: &Inner<A>, height: u64, digest: BlockDigest) -> bool {
        inner
            .recent
            .iter()
            .any(|&(h, d)| h == height && d == digest)
    }
}

/// Marshal application: builds and checks [`Block`]s around the user application.
struct Adapter<A> {
    shared: Arc<Shared<A>>,
    finalize_wait: Duration,
    empty_block_interval: Duration,
    /// The application's [`WorkSignal`], if it has one.
    work: Option<WorkSignal>,
    max_clock_skew_ms: u64,
}

impl<A> Clone for Adapter<A> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            finalize_wait: self.finalize_wait,
            empty_block_interval: self.empty_block_interval,
            work: self.work.clone(),
            max_clock_skew_ms: self.max_clock_skew_ms,
        }
    }
}

impl<A> Adapter<A> {
    /// Sleeps while holding back a proposal: until `hold_until_ms`, or until the application
    /// notifies work after `seen` (without a signal, for at most [`POLL`]).
    async fn hold<E: Clock>(&self, clock: &E, now_ms: u64, hold_until_ms: u64, seen: u64) {
        let rest = Duration::from_millis(hold_until_ms.saturating_sub(now_ms));
        match &self.work {
            Some(work) => {
                let sleep = std::pin::pin!(clock.sleep(rest));
                futures::future::select(sleep, work.changed(seen)).await;
            }
            None => clock.sleep(rest.min(POLL)).await,
        }
    }
}

impl<E, A> commonware_consensus::Application<E> for Adapter<A>
where
    E: Clock + Send + 'static,
    A: Application,
{
    type SigningScheme = Scheme;
    type Context = Context<BlockDigest, ed25519::PublicKey>;
    type Block = Block;
    type Input = ();

    async fn propose(
        &mut self,
        (clock, context): (E, Self::Context),
        mut ancestry: impl marshal::ancestry::Ancestry<Block>,
        _input: (),
    ) -> Option<Digested<Block>> {
        let parent = ancestry.next().await?;
        let parent_height = parent.height().get();
        let parent_digest = parent.digest();
        let parent_timestamp_ms = parent.inner().timestamp_ms;
        let asked = clock.current();
        let deadline = asked + self.finalize_wait;
        // With nothing to propose, hold back until the interval after the parent's time, but
        // never longer than the interval from now: a parent time ahead of this clock must not
        // stretch the hold past the leader timeout.
        let interval_ms = u64::try_from(self.empty_block_interval.as_millis()).unwrap_or(u64::MAX);
        let hold_until_ms = parent_timestamp_ms
            .saturating_add(interval_ms)
            .min(millis(asked).saturating_add(interval_ms));
        // Wait (bounded) for the parent to become the applied tip, then build in one lock so
        // the application state cannot move between the check and the call.
        let height = parent_height.checked_add(1)?;
        let payload = loop {
            // Read before asking for work, so that a notification after the answer wakes us.
            let seen = self.work.as_ref().map_or(0, WorkSignal::generation);
            let now_ms = millis(clock.current());
            let timestamp_ms = now_ms.max(parent_timestamp_ms + 1);
            let holding = {
                let mut inner = self.shared.inner.lock();
                match Shared::status(&inner, parent_height, parent_digest) {
                    ParentStatus::Tip => {
                        if now_ms >= hold_until_ms || inner.app.has_work() {
                            break (timestamp_ms, inner.app.propose(height, timestamp_ms));
                        }
                        true
                    }
                    ParentStatus::Stale => return None,
                    ParentStatus::Pending => false,
                }
            };
            if holding {
                self.hold(&clock, now_ms, hold_until_ms, seen).await;
                continue;
            }
            if clock.current() >= deadline {
                debug!(height, "parent not final in time, proposing an empty block");
                break (timestamp_ms, Vec::new());
            }
            clock.sleep(POLL).await;
        };
        let (timestamp_ms, payload) = payload;
        let block = Block::new(
            height,
            context.round.view().get(),
            timestamp_ms,
            parent_digest,
            payload,
        );
        let digest = block.digest();
        Some(Digested::precomputed(block, digest))
    }

    async fn verify(
        &mut self,
        (clock, context): (E, Self::Context),
        mut ancestry: impl marshal::ancestry::Ancestry<Block>,
    ) -> bool {
        // Ancestry yields the block, then its parent. If either is missing, abstain (stay
        // pending) rather than vote against: consensus drops us when it leaves the view.
        let (Some(block), Some(parent)) = (ancestry.next().await, ancestry.next().await) else {
            futures::future::pending::<()>().await;
            return false;
        };
        let block = block.inner().clone();
        let parent_height = parent.height().get();
        if block.view != context.round.view().get()
            || block.parent != parent.digest()
            || Some(block.height) != parent_height.checked_add(1)
            || block.timestamp_ms <= parent.inner().timestamp_ms
        {
            return false;
        }
        // A timestamp too far ahead is a temporary condition: wait for our clock.
        loop {
            let now_ms = millis(clock.current());
            let limit = now_ms.saturating_add(self.max_clock_skew_ms);
            if block.timestamp_ms <= limit {
                break;
            }
            clock
                .sleep(Duration::from_millis(block.timestamp_ms - limit))
                .await;
        }
        if block.payload().is_empty() {
            return true;
        }
        let digest = block.digest();
        loop {
            {
                let mut inner = self.shared.inner.lock();
                match Shared::status(&inner, parent_height, parent.digest()) {
                    ParentStatus::Tip => {
                        return inner
                            .app
                            .verify(block.height, block.timestamp_ms, block.payload());
                    }
                    ParentStatus::Stale => {
                        // Valid only if this very block is already final (a late re-check).
                        return Shared::is_recent_final(&inner, block.height, digest);
                    }
                    ParentStatus::Pending => {}
                }
            }
            clock.sleep(POLL).await;
        }
    }
}

/// Marshal reporter: forwards finalized blocks to the delivery task (reporting must not block).
#[derive(Clone)]
struct Forwarder {
    sender: mpsc::UnboundedSender<Update<Block>>,
}

impl Reporter for Forwarder {
    type Activity = Update<Block>;

    fn report(&mut self, activity: Self::Activity) -> commonware_actor::Feedback {
        if let Update::Block(..) = activity
            && self.sender.unbounded_send(activity).is_err()
        {
            return commonware_actor::Feedback::Closed;
        }
        commonware_actor::Feedback::Ok
    }
}

type Mailbox = MarshalMailbox<Scheme, Standard<Block>>;

/// Builds the certificate of the finalized block at `height` from marshal's storage, waiting
/// until a finalization of it or of a stored descendant is available.
async fn certificate_for<E: Clock>(clock: &E, marshal: &Mailbox, block: &Block) -> Vec<u8> {
    let digest = block.digest();
    let mut attempts: u64 = 0;
    loop {
        if let Some(finalization) = marshal.get_finalization(Height::new(block.height)).await
            && finalization.proposal.payload == digest
        {
            return certificate::encode(&finalization, &[]);
        }
        // Finalized only through a descendant: find the nearest stored finalization above.
        if let Some((latest, _)) = marshal.get_info(Identifier::Latest).await {
            let latest = latest
                .get()
                .min(block.height + crate::MAX_CERTIFICATE_DESCENDANTS as u64);
            let mut headers: Vec<Header> = Vec::new();
            let mut parent = digest;
            for height in block.height + 1..=latest {
                let Some(child) = marshal
                    .get_block(Identifier::Height(Height::new(height)))
                    .await
                else {
                    break;
                };
                if child.inner().parent != parent {
                    break;
                }
                parent = child.digest();
                headers.push(child.inner().header());
                if let Some(finalization) = marshal.get_finalization(Height::new(height)).await
                    && finalization.proposal.payload == parent
                {
                    return certificate::encode(&finalization, &headers);
                }
            }
        }
        attempts += 1;
        if attempts == 500 {
            attempts = 0;
            warn!(
                height = block.height,
                "still waiting for a finalization to certify the block"
            );
        }
        clock.sleep(Duration::from_millis(20)).await;
    }
}

/// Applies one finalized block (or skips it if the application already has it).
async fn deliver<E: Clock, A: Application>(
    clock: &E,
    shared: &Shared<A>,
    marshal: &Mailbox,
    applied_at_start: u64,
    block: &Block,
) {
    let digest = block.digest();
    let tip = shared.inner.lock().tip;
    if let Some(tip) = tip {
        if block.height <= tip.height {
            return; // Redelivery after a restart.
        }
        assert!(
            block.height == tip.height + 1 && block.parent == tip.digest,
            "marshal delivered height {} that does not extend the tip at height {}",
            block.height,
            tip.height
        );
    }
    let finalized = if block.height > applied_at_start {
        let certificate = certificate_for(clock, marshal, block).await;
        Some(FinalizedBlock {
            height: block.height,
            view: block.view,
            timestamp_ms: block.timestamp_ms,
            parent: digest_bytes(&block.parent),
            digest: digest_bytes(&digest),
            payload: block.payload().to_vec(),
            certificate,
        })
    } else {
        None
    };
    let mut inner = shared.inner.lock();
    if let Some(finalized) = finalized {
        inner.app.finalized(finalized);
    }
    inner.tip = Some(Tip {
        height: block.height,
        digest,
    });
    inner.recent.push_back((block.height, digest));
    if inner.recent.len() > RECENT_FINALIZED {
        inner.recent.pop_front();
    }
}

/// The finalized block at `height` (at most the processed height) from marshal's storage, or
/// `None` if marshal has stopped (on a storage error, say): a stopped marshal answers every
/// query with nothing, which must not be mistaken for a lost block. Panics if a running marshal
/// lacks the block.
async fn stored_block(marshal: &Mailbox, height: u64) -> Option<Block> {
    if let Some(block) = marshal
        .get_block(Identifier::Height(Height::new(height)))
        .await
    {
        return Some(block.inner().clone());
    }
    // A running marshal always knows its processed height (at least `height` here).
    if marshal.get_processed().await.is_none() {
        warn!(height, "marshal stopped while stored blocks were replayed");
        return None;
    }
    panic!("consensus storage lacks finalized block {height}");
}

/// Delivery task: initialises the tip from storage, replays stored blocks the application has
/// not applied, then applies blocks as marshal reports them.
async fn delivery_loop<E: Clock, A: Application>(
    clock: E,
    shared: Arc<Shared<A>>,
    marshal: Mailbox,
    processed: u64,
    applied_at_start: u64,
    mut updates: mpsc::UnboundedReceiver<Update<Block>>,
) {
    let start = applied_at_start.min(processed);
    let anchor = if start == 0 {
        Block::genesis()
    } else {
        let Some(block) = stored_block(&marshal, start).await else {
            return;
        };
        block
    };
    {
        let mut inner = shared.inner.lock();
        inner.tip = Some(Tip {
            height: start,
            digest: anchor.digest(),
        });
    }
    for height in start + 1..=processed {
        let Some(block) = stored_block(&marshal, height).await else {
            return;
        };
        deliver(&clock, &shared, &marshal, applied_at_start, &block).await;
    }
    if processed > start {
        info!(from = start + 1, to = processed, "replayed stored blocks");
    }
    while let Some(update) = updates.next().await {
        if let Update::Block(block, ack) = update {
            deliver(&clock, &shared, &marshal, applied_at_start, block.inner()).await;
            ack.acknowledge();
        }
    }
}

/// Runs one validator until its context is stopped or a consensus task ends.
///
/// Generic over the commonware runtime (`deterministic` for simulation, `tokio` for real
/// processes) and over the p2p network that produced `channels` (simulated or authenticated).
/// `peers` lists the validator set for the fetchers and `blocker` lets consensus block peers
/// caught misbehaving. Storage lives in the runtime's storage under
/// [`Config::partition_prefix`].
pub async fn run_validator<E, S, R, P, B, A>(
    context: E,
    config: Config,
    application: A,
    channels: Channels<S, R>,
    peers: P,
    blocker: B,
) -> Result<(), Error>
where
    E: Spawner + Clock + CryptoRng + rand_core::Rng + Storage + Metrics,
    S: Sender<PublicKey = ed25519::PublicKey>,
    R: Receiver<PublicKey = ed25519::PublicKey>,
    P: Provider<PublicKey = ed25519::PublicKey>,
    B: Blocker<PublicKey = ed25519::PublicKey>,
    A: Application,
{
    config.timeouts.check().map_err(Error::InvalidTimeouts)?;
    let signer = private_key(&config.private_key)?;
    let me = signer.public_key();
    let participants =
        certificate::participants(&config.validators).map_err(Error::InvalidValidators)?;
    let scheme = Scheme::signer(NAMESPACE, participants, signer).ok_or(Error::NotAValidator)?;
    let timeouts = &config.timeouts;
    let prefix = &config.partition_prefix;
    let page_cache = CacheRef::new(PAGE_SIZE, PAGE_CACHE_PAGES);
    // One epoch forever: the validator set is fixed.
    let epocher = FixedEpocher::new(NZU64!(u64::MAX));
    let genesis = Block::genesis();
    let genesis_digest = genesis.digest();

    // Marshal: backfill resolver, block broadcast buffer, archives, actor.
    let (resolver_rx, resolver) = marshal_resolver::init(
        context.child("marshal_resolver"),
        marshal_resolver::Config {
            public_key: me.clone(),
            peer_provider: peers.clone(),
            blocker: blocker.clone(),
            mailbox_size: MAILBOX_SIZE,
            fetch_timeout: commonware_utils::NonZeroDuration::new(timeouts.fetch)
                .unwrap_or(NZDuration!(Duration::from_secs(1))),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        channels.backfill,
    );
    let (broadcast_engine, buffer) = buffered::Engine::new(
        context.child("broadcast"),
        buffered::Config {
            public_key: me.clone(),
            mailbox_size: MAILBOX_SIZE,
            deque_size: 16,
            priority: false,
            codec_config: config.max_payload_bytes,
            peer_provider: peers.clone(),
            strategy: Sequential,
        },
    );
    broadcast_engine.start(channels.broadcast);

    let finalizations_by_height = immutable::Archive::init(
        context.child("finalizations_by_height"),
        archive_config(
            prefix,
            "finalizations",
            &page_cache,
            Scheme::certificate_codec_config_unbounded(),
        ),
    )
    .await
    .map_err(|error| Error::Stopped(format!("opening finalization archive: {error}")))?;
    let finalized_blocks = immutable::Archive::init(
        context.child("finalized_blocks"),
        archive_config(prefix, "blocks", &page_cache, config.max_payload_bytes),
    )
    .await
    .map_err(|error| Error::Stopped(format!("opening block archive: {error}")))?;
    let (marshal_actor, marshal_mailbox, floor) = MarshalActor::init(
        context.child("marshal"),
        finalizations_by_height,
        finalized_blocks,
        marshal::Config {
            provider: ConstantProvider::<Scheme, Epoch>::new(scheme.clone()),
            epocher: epocher.clone(),
            start: marshal::Start::Genesis(Digested::precomputed(genesis, genesis_digest)),
            partition_prefix: format!("{prefix}-marshal"),
            mailbox_size: MAILBOX_SIZE,
            view_retention: ViewDelta::new(10),
            prunable_items_per_section: NZU64!(64),
            page_cache: page_cache.clone(),
            replay_buffer: NZUsize!(1 << 16),
            key_write_buffer: NZUsize!(1 << 12),
            value_write_buffer: NZUsize!(1 << 16),
            block_codec_config: config.max_payload_bytes,
            max_repair: NZUsize!(16),
            max_pending_acks: NZUsize!(1),
            strategy: Sequential,
        },
    )
    .await;
    let processed = floor
        .processed()
        .map(Processed::height)
        .map_or(0, |height| height.get());

    // Application adapter and delivery task.
    let applied_at_start = application.applied_height();
    let work = application.work_signal();
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            app: application,
            tip: None,
            recent: VecDeque::new(),
        }),
    });
    let (update_sender, update_receiver) = mpsc::unbounded();
    let marshal_handle = marshal_actor.start(
        Forwarder {
            sender: update_sender,
        },
        buffer,
        (resolver_rx, resolver),
    );
    info!(processed, applied_at_start, "validator starting");
    let delivery_handle = context.child("delivery").spawn({
        let shared = shared.clone();
        let marshal = marshal_mailbox.clone();
        move |context| {
            delivery_loop(
                context,
                shared,
                marshal,
                processed,
                applied_at_start,
                update_receiver,
            )
        }
    });

    // Simplex.
    let adapter = Adapter {
        shared,
        finalize_wait: timeouts.finalize_wait,
        empty_block_interval: timeouts.empty_block_interval,
        work,
        max_clock_skew_ms: config.max_clock_skew_ms,
    };
    let inline = Inline::new(context.child("inline"), adapter, marshal_mailbox, epocher);
    let engine = simplex::Engine::new(
        context.child("simplex"),
        simplex::Config {
            scheme,
            elector: RoundRobin::<commonware_cryptography::Sha256>::default(),
            blocker,
            automaton: inline.clone(),
            relay: inline.clone(),
            reporter: inline,
            track_historical_votes: false,
            strategy: Sequential,
            partition: format!("{prefix}-simplex"),
            mailbox_size: MAILBOX_SIZE,
            epoch: Epoch::zero(),
            floor: Floor::Genesis(genesis_digest),
            replay_buffer: NZUsize!(1 << 20),
            write_buffer: NZUsize!(1 << 16),
            page_cache,
            leader_timeout: timeouts.leader,
            certification_timeout: timeouts.certification,
            timeout_retry: timeouts.timeout_retry,
            view_retention: ViewDelta::new(10),
            skip: SkipPolicy::Enabled {
                timeout: timeouts.skip,
                budget: SkipBudget::Participants,
            },
            fetch_timeout: commonware_utils::NonZeroDuration::new(timeouts.fetch)
                .unwrap_or(NZDuration!(Duration::from_secs(1))),
            fetch_retry_delay: Duration::from_millis(100),
            forward: ForwardPolicy::SilentVoters,
        },
    );
    let engine_handle = engine.start(channels.votes, channels.certificates, channels.resolver);
    wait_any(engine_handle, marshal_handle, delivery_handle).await
}

/// Storage layout of one marshal archive.
fn archive_config<C>(
    prefix: &str,
    name: &str,
    page_cache: &CacheRef,
    codec_config: C,
) -> immutable::Config<C> {
    immutable::Config {
        metadata_partition: format!("{prefix}-{name}-metadata"),
        freezer_table_partition: format!("{prefix}-{name}-freezer-table"),
        freezer_table_initial_size: 64,
        freezer_table_resize_frequency: 10,
        freezer_table_resize_chunk_size: 10,
        freezer_key_partition: format!("{prefix}-{name}-freezer-key"),
        freezer_key_page_cache: page_cache.clone(),
        freezer_value_partition: format!("{prefix}-{name}-freezer-value"),
        freezer_value_target_size: 1 << 20,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        items_per_section: NZU64!(1_024),
        codec_config,
        replay_buffer: NZUsize!(1 << 16),
        freezer_key_write_buffer: NZUsize!(1 << 12),
        freezer_value_write_buffer: NZUsize!(1 << 16),
        ordinal_write_buffer: NZUsize!(1 << 12),
    }
}

async fn wait_any(
    engine: Handle<()>,
    marshal: Handle<()>,
    delivery: Handle<()>,
) -> Result<(), Error> {
    let (which, result) = futures::future::select_all([
        Box::pin(async { ("simplex", engine.await) })
            as std::pin::Pin<Box<dyn Future<Output = _> + Send>>,
        Box::pin(async { ("marshal", marshal.await) }),
        Box::pin(async { ("delivery", delivery.await) }),
    ])
    .await
    .0;
    Err(Error::Stopped(format!("{which}: {result:?}")))
}
