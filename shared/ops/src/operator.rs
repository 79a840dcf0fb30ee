//! `switchyard operator token …`: the credentials that open the operator dashboard.

use std::io::Write;

use clap::Subcommand;
use switchyard::dashboard::operator::DEFAULT_OPERATOR_TOKEN_DAYS;
use switchyard::App;

use crate::cli::CliError;

#[derive(Debug, Subcommand)]
pub enum OperatorCmd {
    /// Operator tokens: create (printed once), list, revoke.
    #[command(subcommand)]
    Token(OperatorTokenCmd),
}

#[derive(Debug, Subcommand)]
pub enum OperatorTokenCmd {
    /// Issues an operator token and prints it once (only its SHA-256 is stored).
    Create {
        /// Who it is for (shown on the dashboard and in listings).
        #[arg(long, default_value = "")]
        label: String,
        #[arg(long, default_value_t = DEFAULT_OPERATOR_TOKEN_DAYS)]
        ttl_days: u64,
    },
    /// Operator tokens' metadata, newest first (never the tokens).
    List,
    /// Revokes a token: it and the sessions it opened stop working.
    Revoke { token_id: String },
}

/// Runs an `operator` command.
pub async fn operator(app: &App, cmd: OperatorCmd, out: &mut dyn Write) -> Result<(), CliError> {
    let operators = &app.dashboard().operators;
    let now = app.clock.now();
    match cmd {
        OperatorCmd::Token(OperatorTokenCmd::Create { label, ttl_days }) => {
            let (record, token) = operators.create(&label, ttl_days, now).await?;
            writeln!(out, "{}", token.expose())?;
            writeln!(
                out,
                "token id {}, expires {} (shown once: store it now)",
                record.token_id,
                switchyard::clock::rfc3339(record.expires_at)
            )?;
        }
        OperatorCmd::Token(OperatorTokenCmd::List) => {
            for t in operators.list().await? {
                writeln!(out, "{}", serde_json::to_string(&t)?)?;
            }
        }
        OperatorCmd::Token(OperatorTokenCmd::Revoke { token_id }) => {
            operators.revoke(&token_id, now).await?;
            writeln!(out, "revoked {token_id}")?;
        }
    }
    Ok(())
}
