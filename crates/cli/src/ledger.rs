//! `nestgrid ledger …` and `nestgrid keygen`: check and read a stored ledger, make keys.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use nestgrid_ledger::{
    Block, Body, Hash, KeyFile, Keypair, Ledger, PublicKey, Role, VotesOnly, verify,
};
use nestgrid_types::decimal::format_fixed;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `nestgrid ledger`.
#[derive(Args)]
pub struct LedgerArgs {
    #[command(subcommand)]
    command: LedgerCommand,
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Replay a stored ledger from its genesis and check every block, certificate, signature
    /// and balance; name the first block (and transaction) that does not agree.
    Verify {
        /// The ledger's folder (for a run settled with `run --settle`: RESULTS/ledger).
        dir: PathBuf,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the chain, its accounts, a block or a transaction.
    Show {
        /// The ledger's folder.
        dir: PathBuf,
        /// List every account with its balance, locked money and tokens.
        #[arg(long)]
        accounts: bool,
        /// One account, by public key (64 hexadecimal digits).
        #[arg(long, value_name = "KEY")]
        account: Option<String>,
        /// One block, by height.
        #[arg(long, value_name = "HEIGHT")]
        block: Option<u64>,
        /// One transaction, by hash.
        #[arg(long, value_name = "HASH")]
        tx: Option<String>,
    },
}

/// Arguments of `nestgrid keygen`.
#[derive(Args)]
pub struct KeygenArgs {
    /// Where to write the key file (JSON with the public and the secret key). It must not
    /// exist; it is created readable by its owner only.
    #[arg(long, short)]
    out: PathBuf,
}

pub fn run(args: LedgerArgs) -> Result<()> {
    match args.command {
        LedgerCommand::Verify { dir, json } => verify_command(&dir, json),
        LedgerCommand::Show {
            dir,
            accounts,
            account,
            block,
            tx,
        } => show(&dir, accounts, account.as_deref(), block, tx.as_deref()),
    }
}

fn verify_command(dir: &Path, json: bool) -> Result<()> {
    match verify::verify_dir(dir, &VotesOnly) {
        Ok(report) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{}: {} blocks, {} transactions verified; head {}",
                    report.chain_id, report.height, report.transactions, report.head
                );
                println!(
                    "{} accounts, {} assets, {} trades, {} slots settled, {} open",
                    report.accounts,
                    report.assets,
                    report.trades,
                    report.slots_settled,
                    report.slots_open
                );
                println!(
                    "money: {} paid in, {} paid out, {} in accounts ({} locked); {} kWh of energy tokens",
                    money(report.deposited as i128),
                    money(report.withdrawn as i128),
                    money(report.balances + report.locked),
                    money(report.locked),
                    format_fixed(report.tokens_minted_mwh, 1_000_000)
                );
                println!("Every hash link, certificate, signature and balance agrees.");
            }
            Ok(())
        }
        Err(error) => bail!("the ledger in {} does not verify: {error}", dir.display()),
    }
}

fn money(micro: i128) -> String {
    match i64::try_from(micro) {
        Ok(value) => format_fixed(value, 1_000_000),
        Err(_) => format!("{micro}e-6"),
    }
}

fn roles(roles: nestgrid_ledger::Roles) -> String {
    let names: Vec<String> = roles
        .list()
        .iter()
        .map(|role| match role {
            Role::Validator => "validator",
            Role::Operator => "operator",
            Role::MeterAuthority => "meter_authority",
            Role::MarketOperator => "market_operator",
            Role::AreaOperator => "area_operator",
            Role::Gateway => "gateway",
            Role::Auditor => "auditor",
            Role::Participant => "participant",
        })
        .map(str::to_string)
        .collect();
    names.join(",")
}

fn show(
    dir: &Path,
    accounts: bool,
    account: Option<&str>,
    block: Option<u64>,
    tx: Option<&str>,
) -> Result<()> {
    let ledger = Ledger::open(dir, &VotesOnly)
        .with_context(|| format!("opening the ledger in {}", dir.display()))?;
    let state = ledger.state();
    let mut out = std::io::stdout().lock();
    let label = |key: &PublicKey| -> String {
        state
            .accounts
            .get(key)
            .map(|account| account.name.clone())
            .unwrap_or_default()
    };
    if let Some(key) = account {
        let key = PublicKey::from_hex(key).context("--account")?;
        let Some(entry) = state.accounts.get(&key) else {
            bail!("no account {key} on this ledger");
        };
        writeln!(out, "account   {key}")?;
        writeln!(out, "name      {}", label(&key))?;
        writeln!(out, "roles     {}", roles(entry.roles))?;
        writeln!(out, "nonce     {}", entry.nonce)?;
        writeln!(out, "balance   {}", money(entry.balance as i128))?;
        writeln!(out, "locked    {}", money(entry.locked as i128))?;
        writeln!(
            out,
            "tokens    {} kWh held, {} kWh minted",
            format_fixed(entry.tokens_mwh, 1_000_000),
            format_fixed(entry.tokens_minted_mwh, 1_000_000)
        )?;
        return Ok(());
    }
    if let Some(height) = block {
        let Some(block) = ledger.block(height)? else {
            bail!(
                "no block {height}; the chain has {} blocks",
                ledger.height()
            );
        };
        print_block(&mut out, &block)?;
        return Ok(());
    }
    if let Some(hash) = tx {
        let wanted = Hash::from_hex(hash).context("--tx")?;
        for height in 1..=ledger.height() {
            let block = ledger.block(height)?.expect("stored blocks exist");
            if let Some(index) = block.transactions.iter().position(|tx| tx.hash() == wanted) {
                let tx = &block.transactions[index];
                writeln!(out, "transaction {wanted}")?;
                writeln!(out, "block       {height}, position {index}")?;
                writeln!(
                    out,
                    "signer      {} {}",
                    tx.transaction.signer,
                    label(&tx.transaction.signer)
                )?;
                writeln!(out, "nonce       {}", tx.transaction.nonce)?;
                writeln!(out, "result      ok (0)")?;
                writeln!(out, "{}", describe(&tx.transaction.body))?;
                return Ok(());
            }
        }
        bail!("no transaction {wanted} in the {} blocks", ledger.height());
    }
    writeln!(out, "chain     {}", ledger.genesis().chain_id)?;
    writeln!(out, "currency  {}", ledger.genesis().currency)?;
    writeln!(out, "height    {}", ledger.height())?;
    writeln!(out, "head      {}", ledger.head())?;
    writeln!(out, "time      {} ms", ledger.timestamp_ms())?;
    writeln!(
        out,
        "validators {}, accounts {}, assets {}, trades {}, slots settled {}, open {}",
        ledger.genesis().validators.len(),
        state.accounts.len(),
        state.assets.len(),
        state.totals.trades,
        state.totals.slots_settled,
        state.slots.len()
    )?;
    if accounts {
        writeln!(out)?;
        writeln!(
            out,
            "{:<16}  {:<16}  {:>14}  {:>12}  {:>12}  name",
            "account", "roles", "balance", "locked", "tokens_kwh"
        )?;
        for (key, entry) in &state.accounts {
            writeln!(
                out,
                "{:<16}  {:<16}  {:>14}  {:>12}  {:>12}  {}",
                &key.to_hex()[..16],
                roles(entry.roles),
                money(entry.balance as i128),
                money(entry.locked as i128),
                format_fixed(entry.tokens_mwh, 1_000_000),
                label(key)
            )?;
        }
    }
    Ok(())
}

fn print_block(out: &mut impl Write, block: &Block) -> Result<()> {
    let header = &block.header;
    writeln!(out, "block     {}", header.height)?;
    writeln!(out, "hash      {}", header.hash())?;
    writeln!(out, "parent    {}", header.parent)?;
    writeln!(out, "time      {} ms", header.timestamp_ms)?;
    writeln!(out, "tx root   {}", header.tx_root)?;
    writeln!(out, "state     {}", header.state_hash)?;
    let certificate = match &block.certificate {
        nestgrid_ledger::Certificate::Votes(votes) => format!(
            "{} validator vote(s): {:?}",
            votes.len(),
            votes.iter().map(|vote| vote.validator).collect::<Vec<_>>()
        ),
        nestgrid_ledger::Certificate::Consensus(bytes) => {
            format!("consensus certificate, {} bytes", bytes.len())
        }
    };
    writeln!(out, "certified {certificate}")?;
    writeln!(out, "{} transactions:", header.tx_count)?;
    for tx in &block.transactions {
        writeln!(
            out,
            "  {}  {:<16} signer {} nonce {}",
            tx.hash(),
            tx.transaction.body.kind(),
            &tx.transaction.signer.to_hex()[..16],
            tx.transaction.nonce
        )?;
    }
    Ok(())
}

fn describe(body: &Body) -> String {
    match body {
        Body::Register {
            account,
            name,
            role,
            assets,
        } => format!(
            "register  {account} ({name}) as {role:?} with {} asset(s): {}",
            assets.len(),
            assets
                .iter()
                .map(|asset| asset.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Body::Deposit { account, amount } => {
            format!("deposit   {} to {account}", money(*amount as i128))
        }
        Body::Withdraw { account, amount } => {
            format!("withdraw  {} from {account}", money(*amount as i128))
        }
        Body::RecordTrades { slot, trades } => {
            let energy: i64 = trades.iter().map(|trade| trade.energy_mwh).sum();
            format!(
                "trades    {} for slot {slot}, {} kWh",
                trades.len(),
                format_fixed(energy, 1_000_000)
            )
        }
        Body::PostPrices { slot, prices } => {
            format!(
                "prices    of {} balancing asset(s) for slot {slot}",
                prices.len()
            )
        }
        Body::PostDeliveries {
            slot,
            deliveries,
            data_hash,
        } => format!(
            "deliveries of {} asset(s) for slot {slot}{}",
            deliveries.len(),
            data_hash.map_or(String::new(), |hash| format!(", meter data {hash}"))
        ),
        Body::SettleSlot { slot } => format!("settle    slot {slot}"),
    }
}

pub fn keygen(args: KeygenArgs) -> Result<()> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|error| anyhow::anyhow!("no randomness: {error}"))?;
    let keypair = Keypair::from_secret(secret);
    let text = serde_json::to_string_pretty(&KeyFile::new(&keypair))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&args.out)
        .with_context(|| format!("creating {} (it must not exist)", args.out.display()))?;
    writeln!(file, "{text}")?;
    println!("{}", keypair.public());
    eprintln!(
        "Key written to {}; the line above is its public key.",
        args.out.display()
    );
    Ok(())
}
