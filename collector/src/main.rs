//! `frontier-collector`: serve the API, or manage its tokens.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use frontier_collector::auth::{self, Role};
use frontier_collector::jobs::{Active, JobRequest, JobState};
use frontier_collector::store::DeviceMatch;
use frontier_collector::{Limits, ServeConfig, Store, TrainerConfig};

#[derive(Debug, Parser)]
#[command(
    name = "frontier-collector",
    version,
    about = "Collects latency-table rows uploaded by frontier agents"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve(ServeArgs),
    /// Create, list or revoke bearer tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Queue profiling jobs for boards, and list them.
    Job {
        #[command(subcommand)]
        command: JobCommand,
    },
    /// Promote or roll back a published frontier's version by hand.
    Rollout {
        #[command(subcommand)]
        command: RolloutCommand,
    },
}

#[derive(Debug, Subcommand)]
enum RolloutCommand {
    /// Promote VERSION (default: the version in its canary stage) to every board.
    Promote(RolloutArgs),
    /// Roll VERSION back (default: the canary version, else the current
    /// one): its boards return to the highest promoted version before it.
    Rollback(RolloutArgs),
}

#[derive(Debug, Args)]
struct RolloutArgs {
    /// The frontier's name.
    name: String,
    version: Option<u32>,
    /// Why (kept with the decision).
    #[arg(long)]
    reason: Option<String>,
    #[command(flatten)]
    storage: StorageArgs,
}

#[derive(Debug, Subcommand)]
enum JobCommand {
    /// Queue a job for one board; prints its id.
    Create(JobCreateArgs),
    /// List jobs, newest first, with their leases.
    List {
        /// Only this board (device id or enrolled name).
        #[arg(long)]
        device: Option<String>,
        /// Only jobs in this state: queued, leased, done or failed.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Args)]
struct JobCreateArgs {
    /// The board: its device id, or its enrolled name when unique.
    #[arg(long)]
    device: String,
    /// profile (with --samples, --archs or --active) or canary.
    #[arg(long, default_value = "profile")]
    kind: String,
    /// The search space (ofa-mbv3 or gpt2).
    #[arg(long)]
    space: Option<String>,
    /// Profile N subnets drawn from the space.
    #[arg(long, conflicts_with_all = ["archs", "active"])]
    samples: Option<u32>,
    /// Profile these architectures: a file with one per line (the space's
    /// JSON, or any JSON line with an `arch` field, as rows and manifests).
    #[arg(long, conflicts_with = "active")]
    archs: Option<PathBuf>,
    /// Active profiling: the collector picks each batch until --target or
    /// --budget.
    #[arg(long, requires = "budget")]
    active: bool,
    /// With --active: wall time on the board (e.g. 15m).
    #[arg(long, value_parser = frontier_targets::parse_duration, requires = "active")]
    budget: Option<Duration>,
    /// With --active: the cross-validated share within ±10% to reach.
    #[arg(long, default_value_t = 0.95, requires = "active")]
    target: f64,
    /// tract or ort (default: the board's).
    #[arg(long)]
    backend: Option<String>,
    #[arg(long)]
    threads: Option<u32>,
    #[command(flatten)]
    storage: StorageArgs,
}

/// The architectures of an `--archs` file.
fn read_archs(path: &std::path::Path) -> anyhow::Result<Vec<serde_json::Value>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --archs {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line).with_context(|| {
            format!(
                "{}:{}: not JSON; fix: one architecture per line",
                path.display(),
                i + 1
            )
        })?;
        out.push(match v.get("arch") {
            Some(a) if a.is_object() => a.clone(),
            Some(serde_json::Value::String(s)) => serde_json::from_str(s)
                .with_context(|| format!("{}:{}: its arch is not JSON", path.display(), i + 1))?,
            _ => v,
        });
    }
    Ok(out)
}

/// Where rows are stored.
#[derive(Debug, Clone, Args)]
struct StorageArgs {
    /// Directory of the SQLite store (collector.db). Default:
    /// $FRONTIER_COLLECTOR_DATA, else /var/lib/frontier-collector as root,
    /// else ~/.local/share/frontier-collector.
    #[arg(long, conflicts_with = "database")]
    data_dir: Option<PathBuf>,
    /// A database URL instead: postgres://USER[:PASSWORD]@HOST[:PORT]/DB
    /// (or sqlite://PATH).
    #[arg(long, env = "FRONTIER_COLLECTOR_DATABASE")]
    database: Option<String>,
}

impl StorageArgs {
    fn data_dir(&self) -> PathBuf {
        if let Some(d) = &self.data_dir {
            return d.clone();
        }
        if let Some(d) = std::env::var_os("FRONTIER_COLLECTOR_DATA") {
            return PathBuf::from(d);
        }
        if is_root() {
            return PathBuf::from("/var/lib/frontier-collector");
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        home.join(".local/share/frontier-collector")
    }

    /// Where it stores, for humans (a URL's password is not printed).
    fn describe(&self) -> String {
        match &self.database {
            Some(url) => redact(url),
            None => format!("sqlite {}", self.data_dir().join("collector.db").display()),
        }
    }

    async fn open(&self) -> anyhow::Result<Store> {
        match &self.database {
            Some(url) => Store::open(url)
                .await
                .with_context(|| format!("cannot open the database {}", redact(url))),
            None => {
                let dir = self.data_dir();
                Store::open_data_dir(&dir).await.with_context(|| {
                    format!(
                        "cannot open the store in {}; fix: pass a writable --data-dir",
                        dir.display()
                    )
                })
            }
        }
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// `scheme://user:password@host` → `scheme://user:***@host`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    #[command(flatten)]
    storage: StorageArgs,
    /// Largest request body in MiB, before and after gzip (413 past it).
    #[arg(long, default_value_t = 16)]
    max_body_mb: usize,
    /// Seconds to produce a response (408 past it).
    #[arg(long, default_value_t = 30)]
    request_timeout: u64,
    /// Do not train here (other replicas on the same database do).
    #[arg(long)]
    no_trainer: bool,
    /// Train a cohort once no rows of it arrived for this long (e.g. 20s).
    #[arg(long, value_parser = frontier_targets::parse_duration, default_value = "20s")]
    train_quiet: Duration,
    /// ... or once rows have waited this long while more kept arriving.
    #[arg(long, value_parser = frontier_targets::parse_duration, default_value = "2m")]
    train_max_wait: Duration,
    /// How often each board runs its canary set (also at each agent start);
    /// 0: only when queued by hand.
    #[arg(long, value_parser = frontier_targets::parse_duration, default_value = "6h")]
    canary_every: Duration,
    /// Subnets of the profiling job queued when a board's canaries shift.
    #[arg(long, default_value_t = 40)]
    reprofile_samples: u32,
    /// Largest blob (model or supernet) an operator may upload, MB.
    #[arg(long, default_value_t = 512)]
    blob_limit_mb: usize,
    /// How often canary versions of frontiers are judged from field rows.
    #[arg(long, value_parser = frontier_targets::parse_duration, default_value = "5s")]
    rollout_check: Duration,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoleArg {
    /// May only upload rows (POST /v1/rows): give it to agents.
    Device,
    /// May only read (GET /v1/rows, GET /v1/devices): give it to searches.
    Reader,
    /// Reads, and manages the fleet: give it to the people who run it.
    Operator,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token; prints it alone on stdout, once (only its hash is kept).
    Create {
        #[arg(long, value_enum)]
        role: RoleArg,
        /// A note to recognize it by in `token list`.
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// List tokens (ids, roles, notes; never secrets).
    List {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Revoke a token by its id (the 16 hex digits after `frt_`); a board's
    /// credential too (it stops at its next request, and may enrol again).
    Revoke {
        id: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    eprintln!("frontier-collector: shutting down after the requests in flight");
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(a) => {
            let store = a.storage.open().await?;
            let listener = tokio::net::TcpListener::bind(a.listen)
                .await
                .with_context(|| {
                    format!(
                        "cannot listen on {}; fix: choose a free --listen address",
                        a.listen
                    )
                })?;
            let addr = listener.local_addr()?;
            // A closed stdout (a supervisor that stopped reading) must not
            // take the server down: println! would panic on EPIPE.
            {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "frontier-collector listening on http://{addr}");
                let _ = writeln!(out, "storing rows in {}", a.storage.describe());
                let _ = out.flush();
            }
            if store
                .tokens()
                .await?
                .iter()
                .all(|t| t.revoked_at_us.is_some())
            {
                eprintln!("warning: no active token: every request will get 401; fix: frontier-collector token create --role device");
            }
            let limits = Limits {
                body_bytes: a.max_body_mb << 20,
                request_timeout: Duration::from_secs(a.request_timeout),
                canary_every: (!a.canary_every.is_zero()).then_some(a.canary_every),
                ..Limits::default()
            };
            let trainer = (!a.no_trainer).then(|| TrainerConfig {
                quiet: a.train_quiet,
                max_wait: a.train_max_wait,
                reprofile_samples: a.reprofile_samples,
                ..TrainerConfig::default()
            });
            let config = ServeConfig {
                limits: Limits {
                    blob_bytes: a.blob_limit_mb << 20,
                    ..limits
                },
                trainer,
                rollout: frontier_collector::rollout::RolloutConfig {
                    check_every: a.rollout_check,
                    ..Default::default()
                },
            };
            frontier_collector::serve(store.clone(), listener, config, shutdown_signal()).await?;
            store.close().await;
        }
        Command::Token { command } => match command {
            TokenCommand::Create {
                role,
                note,
                storage,
            } => {
                let store = storage.open().await?;
                let role = match role {
                    RoleArg::Device => Role::Device,
                    RoleArg::Reader => Role::Reader,
                    RoleArg::Operator => Role::Operator,
                };
                let token = auth::create(&store, role, note.as_deref()).await?;
                println!("{token}");
                eprintln!(
                    "created a {} token in {}; it is shown only now",
                    role.as_str(),
                    storage.describe()
                );
            }
            TokenCommand::List { storage } => {
                let store = storage.open().await?;
                println!(
                    "{:<16}  {:<8}  {:<24}  {:<24}  {:<16}  note",
                    "id", "role", "created", "revoked", "board"
                );
                for t in store.tokens().await? {
                    let time =
                        |us: i64| frontier_table::rfc3339(Duration::from_micros(us.max(0) as u64));
                    println!(
                        "{:<16}  {:<8}  {:<24}  {:<24}  {:<16}  {}",
                        t.id,
                        t.role,
                        time(t.created_at_us),
                        t.revoked_at_us.map(time).unwrap_or_else(|| "-".into()),
                        t.device_id.as_deref().unwrap_or("-"),
                        t.note.unwrap_or_default()
                    );
                }
            }
            TokenCommand::Revoke { id, storage } => {
                let store = storage.open().await?;
                let id = id.trim_start_matches("frt_");
                let id = id.split('_').next().unwrap_or(id);
                if !store.revoke_token(id).await? {
                    anyhow::bail!(
                        "no active token with id {id}; fix: see frontier-collector token list"
                    );
                }
                eprintln!("revoked {id}");
            }
        },
        Command::Rollout { command } => {
            let (a, promote) = match command {
                RolloutCommand::Promote(a) => (a, true),
                RolloutCommand::Rollback(a) => (a, false),
            };
            let store = a.storage.open().await?;
            let by = format!("operator:cli:{}", whoami());
            let d = frontier_collector::rollout::by_hand(
                &store, &a.name, a.version, promote, &by, a.reason,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{} version {}: {}", d.name, d.version, d.action);
        }
        Command::Job { command } => match command {
            JobCommand::Create(a) => {
                let req = JobRequest {
                    device: a.device.clone(),
                    kind: a.kind.clone(),
                    space: a.space.clone(),
                    samples: a.samples,
                    archs: a.archs.as_deref().map(read_archs).transpose()?,
                    active: a.active.then(|| Active {
                        budget_s: a.budget.map(|b| b.as_secs()).unwrap_or(0),
                        target: a.target,
                    }),
                    backend: a.backend.clone(),
                    threads: a.threads,
                };
                let spec = req.spec()?;
                let store = a.storage.open().await?;
                let device = match store.find_device(&a.device).await? {
                    DeviceMatch::One(id) => id,
                    DeviceMatch::None => anyhow::bail!(
                        "--device {}: unknown in {}; fix: a device id or enrolled name (a board appears once it enrols or uploads)",
                        a.device,
                        a.storage.describe()
                    ),
                    DeviceMatch::Several(ids) => anyhow::bail!(
                        "--device {}: the name of {} devices ({}); fix: use the device id",
                        a.device,
                        ids.len(),
                        ids.join(", ")
                    ),
                };
                let job = store
                    .create_job(&auth::random_hex(8), &device, &spec, "cli")
                    .await?;
                println!("{}", job.id);
                eprintln!(
                    "queued a {} job for {device} in {}",
                    spec.kind.as_str(),
                    a.storage.describe()
                );
            }
            JobCommand::List {
                device,
                state,
                limit,
                storage,
            } => {
                let store = storage.open().await?;
                let device = match device {
                    None => None,
                    Some(d) => match store.find_device(&d).await? {
                        DeviceMatch::One(id) => Some(id),
                        _ => anyhow::bail!(
                            "--device {d}: not one known device; fix: see GET /v1/devices"
                        ),
                    },
                };
                let state = state
                    .map(|s| {
                        JobState::parse(&s).with_context(|| {
                            format!("--state {s}; fix: queued, leased, done or failed")
                        })
                    })
                    .transpose()?;
                let time =
                    |us: i64| frontier_table::rfc3339(Duration::from_micros(us.max(0) as u64));
                println!(
                    "{:<16}  {:<16}  {:<8}  {:<7}  {:<24}  {:>8}  {:<24}  what",
                    "id", "device", "kind", "state", "created", "attempts", "lease expires"
                );
                for j in store.jobs(device.as_deref(), state, limit).await? {
                    let what = match (&j.spec.samples, &j.spec.archs, &j.spec.active) {
                        (Some(n), _, _) => format!("{} x{n}", j.spec.space),
                        (_, Some(a), _) => format!("{} {} archs", j.spec.space, a.len()),
                        (_, _, Some(a)) => {
                            format!("{} active {} s to {}", j.spec.space, a.budget_s, a.target)
                        }
                        _ => j.spec.space.clone(),
                    };
                    println!(
                        "{:<16}  {:<16}  {:<8}  {:<7}  {:<24}  {:>8}  {:<24}  {what}",
                        j.id,
                        j.device_id,
                        j.spec.kind.as_str(),
                        j.state.as_str(),
                        time(j.created_at_us),
                        j.attempts,
                        j.lease_expires_us
                            .filter(|_| j.state == JobState::Leased)
                            .map(time)
                            .unwrap_or_else(|| "-".into()),
                    );
                }
            }
        },
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = rt.block_on(run(cli)) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Who runs the CLI, for the decisions it records.
fn whoami() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| format!("uid{}", unsafe { libc::getuid() }))
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}
