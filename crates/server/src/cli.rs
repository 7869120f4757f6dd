//! The `loyalcast` command line: serve, worker, migrate, seed, openapi, merchant create.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::SecretString;

use crate::config::Config;
use crate::merchants::{self, NewMerchant};
use crate::startup::Application;
use crate::{background, db, keys, openapi, secrets, seed, telemetry};

#[derive(Parser)]
#[command(
    name = "loyalcast",
    version,
    about = "The messaging hub for digital loyalty cards"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and the dashboard, and do background work.
    Serve {
        /// Seed the demo merchant when it does not exist yet.
        #[arg(long)]
        seed_demo: bool,
    },
    /// Do background work only (scale-out on PostgreSQL).
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Fill the database with sample data.
    Seed {
        /// The demo merchant with its team, cards, customers, passes and segments.
        #[arg(long)]
        demo: bool,
    },
    /// Print the OpenAPI document (or write it to a file).
    Openapi {
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Manage merchants.
    Merchant {
        #[command(subcommand)]
        command: MerchantCommand,
    },
    /// SMS and email credits.
    Balance {
        #[command(subcommand)]
        command: BalanceCommand,
    },
    /// Print a new VAPID private key for `web_push.vapid_private_key` (and its public key).
    VapidKey,
    /// The keys the server signs with, when they live in the database.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Make a new key for session tokens or for links in messages. Every process signs with
    /// it two minutes later; the one it replaces still verifies for 90 days.
    Rotate {
        /// `sessions` or `links`.
        #[arg(long)]
        purpose: String,
    },
}

#[derive(Subcommand)]
enum BalanceCommand {
    /// Add credits to a merchant's balance (recorded in its ledger).
    TopUp {
        /// The merchant's id.
        #[arg(long)]
        merchant: uuid::Uuid,
        /// `sms` or `email`.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        amount: i64,
        /// What makes this top-up happen once, e.g. an invoice number: the same reference
        /// again adds nothing. A unique one is made when left out.
        #[arg(long)]
        reference: Option<String>,
    },
    /// Show a merchant's balances.
    Show {
        #[arg(long)]
        merchant: uuid::Uuid,
    },
}

#[derive(Subcommand)]
enum MerchantCommand {
    /// Create a merchant and its owner. The owner's password comes from
    /// LOYALCAST_OWNER_PASSWORD, or is generated and printed once.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        owner_email: String,
        #[arg(long, default_value = "Owner")]
        owner_name: String,
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        #[arg(long, default_value = "US")]
        country: String,
    },
}

pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Openapi { output } = &cli.command {
        let json = openapi::to_json()?;
        return match output {
            Some(path) => {
                std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))
            }
            None => {
                print!("{json}");
                Ok(())
            }
        };
    }
    if let Command::VapidKey = &cli.command {
        let private = crate::wallet::webpush::Vapid::generate_private_key();
        let vapid = crate::wallet::webpush::Vapid::from_config(&crate::config::WebPushConfig {
            vapid_private_key: Some(private.clone().into()),
            ..crate::config::WebPushConfig::default()
        })?
        .context("the generated key")?;
        println!("LOYALCAST_WEB_PUSH__VAPID_PRIVATE_KEY={private}");
        println!(
            "# public key (applicationServerKey): {}",
            vapid.public_key()
        );
        return Ok(());
    }
    let config = Arc::new(Config::load().context("reading the configuration")?);
    config.check().context("checking the configuration")?;
    telemetry::init(config.log_json);
    let database = db::connect(&config.database_url).await?;
    db::migrate(&database).await?;
    match cli.command {
        Command::Openapi { .. } | Command::VapidKey => Ok(()),
        Command::Migrate => {
            println!("Migrations applied.");
            Ok(())
        }
        Command::Seed { demo } => {
            if !demo {
                anyhow::bail!("say what to seed: --demo");
            }
            report_seed(seed::demo(&database, &config.public_url).await?);
            Ok(())
        }
        Command::Merchant {
            command:
                MerchantCommand::Create {
                    name,
                    owner_email,
                    owner_name,
                    time_zone,
                    country,
                },
        } => {
            let (password, generated) = match std::env::var("LOYALCAST_OWNER_PASSWORD") {
                Ok(p) if !p.is_empty() => (p, false),
                _ => (secrets::random_token(18), true),
            };
            let (merchant, owner) = merchants::create(
                &database,
                &crate::auth::password::Passwords::new(1, std::time::Duration::from_secs(60)),
                NewMerchant {
                    name,
                    time_zone: Some(time_zone),
                    default_country: Some(country),
                    owner_name,
                    owner_email,
                    owner_password: SecretString::from(password.clone()),
                    trial: merchants::Trial::of(&config),
                },
                chrono::Utc::now(),
            )
            .await
            .map_err(|e| match e {
                crate::error::ApiError::Validation(errors) => anyhow::anyhow!(
                    "{}",
                    errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                other => anyhow::anyhow!("{other}"),
            })?;
            println!("Created merchant {} ({}).", merchant.name, merchant.id);
            println!("Owner: {}", owner.email);
            if generated {
                // Printed once, to the operator's terminal; never logged.
                println!("Password: {password}");
            }
            Ok(())
        }
        Command::Balance { command } => {
            let merchant_id = match &command {
                BalanceCommand::TopUp { merchant, .. } | BalanceCommand::Show { merchant } => {
                    *merchant
                }
            };
            merchants::find(&database, merchant_id)
                .await
                .map_err(|_| anyhow::anyhow!("no merchant {merchant_id}"))?;
            if let BalanceCommand::TopUp {
                kind,
                amount,
                reference,
                ..
            } = command
            {
                let kind = match kind.as_str() {
                    "sms" => crate::balances::Kind::Sms,
                    "email" => crate::balances::Kind::Email,
                    other => anyhow::bail!("--kind is sms or email, not {other}"),
                };
                let reference =
                    reference.unwrap_or_else(|| format!("command line {}", uuid::Uuid::now_v7()));
                let reference = crate::balances::check_top_up(amount, &reference)
                    .map_err(|e| anyhow::anyhow!("{}", problem_text(&e)))?;
                let receipt = crate::balances::top_up(
                    &database,
                    merchant_id,
                    kind,
                    amount,
                    &reference,
                    chrono::Utc::now(),
                )
                .await
                .map_err(|e| anyhow::anyhow!("{}", problem_text(&e)))?;
                if receipt.replayed {
                    println!(
                        "A top-up with reference {reference:?} was already added; nothing changed."
                    );
                } else {
                    println!("Added under reference {reference:?}.");
                }
            }
            let b = crate::balances::get(&database, merchant_id)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "SMS: {} available, {} reserved\nEmail: {} available, {} reserved",
                crate::balances::thousands(b.sms.available),
                crate::balances::thousands(b.sms.reserved),
                crate::balances::thousands(b.email.available),
                crate::balances::thousands(b.email.reserved)
            );
            Ok(())
        }
        Command::Serve { seed_demo } => {
            let stop = crate::startup::shutdown_signal();
            if seed_demo || config.seed_demo {
                report_seed(seed::demo(&database, &config.public_url).await?);
            }
            let keys = keys::load(&database, &config, chrono::Utc::now()).await?;
            let app = Application::build(config.clone(), database.clone(), &keys)?;
            tracing::info!(port = app.port(), database = %db::redact(&config.database_url), "serving");
            println!("Loyalcast is serving on http://{}", config.bind);
            let background =
                background::start(&config, database.clone(), &keys, crate::clock::system()).await?;
            let result = app.run_until(stop).await;
            // The server has stopped taking requests: let the worker finish its batch.
            background.shutdown().await;
            result.context("the HTTP server failed")
        }
        Command::Keys {
            command: KeysCommand::Rotate { purpose },
        } => {
            let (purpose, configured) = match purpose.as_str() {
                "sessions" => (keys::Purpose::Sessions, config.jwt_secret.is_some()),
                "links" => (keys::Purpose::Links, config.link_secret.is_some()),
                other => anyhow::bail!("--purpose is sessions or links, not {other}"),
            };
            if configured {
                anyhow::bail!(
                    "the {} key comes from the configuration: set the new one there and list the old one in its previous secrets",
                    purpose.as_str()
                );
            }
            // The ring exists before it is rotated, so the first key is not skipped.
            keys::load(&database, &config, chrono::Utc::now()).await?;
            let generation = keys::rotate(&database, purpose, chrono::Utc::now()).await?;
            println!(
                "Made generation {generation} of the {} key; every process signs with it within {} minutes.",
                purpose.as_str(),
                keys::ACTIVATION.num_minutes()
            );
            Ok(())
        }
        Command::Worker => {
            let stop = crate::startup::shutdown_signal();
            let keys = keys::load(&database, &config, chrono::Utc::now()).await?;
            let background =
                background::start(&config, database, &keys, crate::clock::system()).await?;
            tracing::info!("worker started");
            stop.await;
            tracing::info!("worker stopping after its current batch");
            background.shutdown().await;
            Ok(())
        }
    }
}

fn report_seed(seeded: bool) {
    if seeded {
        println!("Seeded the demo merchant \"Bean & Leaf Coffee\".");
    }
    println!(
        "Demo sign-in: {} / {} (also {} and {})",
        seed::OWNER_EMAIL,
        seed::PASSWORD,
        seed::ADMIN_EMAIL,
        seed::AGENT_EMAIL
    );
}

/// An error as the operator should read it: the fields' messages, or the problem's detail.
fn problem_text(err: &crate::error::ApiError) -> String {
    match err {
        crate::error::ApiError::Validation(errors) => errors
            .iter()
            .map(|e| format!("--{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        crate::error::ApiError::Conflict(detail) => detail.clone(),
        other => other.to_string(),
    }
}
