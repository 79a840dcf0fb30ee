//! The local host: creates the template's resources in the emulator, seeds the demo instances,
//! serves the HTTP routes, drives the consumer and the Google sync worker, runs a Google fake
//! for the demo Google instance and fires the schedules.

use std::sync::Arc;

use clap::Parser;
use switchyard_ops::local::{demo, DriverSettings};

#[derive(Parser)]
#[command(about = "Switchyard local host (template routes + consumer on an AWS emulator)")]
struct Args {
    /// Port for the HTTP routes.
    #[arg(long, env = "SWITCHYARD_PORT", default_value_t = 3000)]
    port: u16,
    /// Resource name prefix in the emulator.
    #[arg(long, env = "SWITCHYARD_STACK_PREFIX", default_value = "switchyard")]
    prefix: String,
    /// Consumer visibility timeout (seconds); failed records are retried after it.
    #[arg(long, default_value_t = 30)]
    visibility_timeout: i32,
    /// Consumer batch size.
    #[arg(long, default_value_t = 10)]
    batch_size: i32,
    /// Seconds between runs of the scheduled functions (the token refresher, the Notion poller,
    /// the Google watch renewer and its sweep).
    #[arg(long, default_value_t = 60)]
    schedule_every: u64,
}

/// The stack of the runtime's threads: a Lambda runs its handler on the main thread (8 MiB), and
/// the deepest request paths (a tool call that reads a Google Doc through another tool, a
/// resync) need more than tokio's default 2 MiB in debug builds.
const THREAD_STACK: usize = 8 * 1024 * 1024;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(THREAD_STACK)
        .build()?
        .block_on(serve())
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    switchyard::telemetry::init();
    let args = Args::parse();
    let aws = switchyard::aws::AwsClients::from_env().await;
    let resources = switchyard_ops::stack::provision(&aws, &args.prefix).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    // Gmail watches name a Pub/Sub topic; the demo's fake accepts any well-formed one.
    let mut google = switchyard::google::Settings::from_env()?;
    google.gmail_topic = google
        .gmail_topic
        .or_else(|| Some(switchyard_ops::google::DEMO_TOPIC.to_owned()));
    let app = Arc::new(
        switchyard::App::new(
            aws,
            resources,
            switchyard::config::Limits::from_env()?,
            switchyard::clock::Clock::default(),
        )?
        .with_public_url(std::env::var("SWITCHYARD_PUBLIC_URL").unwrap_or_else(|_| base.clone()))
        .with_google_settings(google)
        .with_actor("local-host"),
    );
    switchyard_ops::local::seed_demo(&app).await?;
    // The demo Google instance runs against a loopback Google fake started here.
    let google_fake = switchyard_google_fake::GoogleFake::start().await;
    let demo_watches = switchyard_ops::google::seed_demo(&app, &google_fake).await?;
    let settings = DriverSettings {
        batch_size: args.batch_size,
        visibility_timeout: args.visibility_timeout,
        ..DriverSettings::default()
    };
    tokio::spawn(switchyard_ops::local::drive(app.clone(), settings));
    tokio::spawn(switchyard_ops::local::drive_sync(app.clone(), settings));
    tokio::spawn(switchyard_ops::local::drive_jobs(app.clone(), settings));
    // Live events: the fan-out from its stand-in queue to the sockets of GET /ws.
    tokio::spawn(switchyard_ops::live::drive(app.clone(), settings));
    // SES email events: the status recorder from its stand-in queue.
    tokio::spawn(switchyard_ops::email::drive_status(app.clone(), settings));
    // Scheduled task intents: the emulator keeps their schedules; this fires the due ones.
    tokio::spawn(switchyard_ops::intents::fire_intents(
        app.clone(),
        std::time::Duration::from_secs(1),
    ));
    tokio::spawn(switchyard_ops::local::fire_schedules(
        app.clone(),
        std::time::Duration::from_secs(args.schedule_every),
    ));
    println!(
        "demo Slack webhook:   {base}/webhooks/slack/{}  (signing secret {})",
        demo::SLACK_INSTANCE,
        demo::SLACK_SIGNING_SECRET
    );
    println!(
        "demo Discord webhook: {base}/webhooks/discord/{}  (public key {}, test private key {})",
        demo::DISCORD_INSTANCE,
        demo::DISCORD_PUBLIC_KEY,
        demo::DISCORD_SEED_HEX
    );
    println!(
        "demo Google watches ({} on the Google fake at {}, renewed every {} s): {}  (switchyard watch list)",
        switchyard_ops::google::DEMO_INSTANCE,
        google_fake.base_url,
        args.schedule_every,
        demo_watches
            .iter()
            .map(|w| format!("{}:{} {}", w.resource_type, w.resource_id, w.id))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "agent events: bus {}, tap queue {}",
        app.resources.event_bus,
        app.resources.tap_queue_url.as_deref().unwrap_or("-")
    );
    println!("OAuth: {base}/oauth/<provider>/start?instance_id=<id>  (redirect URI {base}/oauth/<provider>/callback)");
    println!(
        "live events: {}/ws (agent token in Authorization or ?token=; ?events=platform)",
        base.replacen("http://", "ws://", 1)
    );
    println!("tools: POST {base}/tools/<integration>/<method>, GET {base}/tools?agent_id=<agent>");
    println!(
        "CLI: export AWS_ENDPOINT_URL={} SWITCHYARD_STACK_PREFIX={}",
        std::env::var("AWS_ENDPOINT_URL").unwrap_or_default(),
        args.prefix
    );
    println!(
        "switchyard local host ready on {base} (prefix {})",
        args.prefix
    );
    axum::serve(listener, switchyard_ops::local::router(app))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
