//! `switchyard whatsapp optout list|remove`: who opted out of an instance's messages (they
//! wrote `STOP`), and lifting an opt-out an operator has confirmed. Lifting is recorded as an
//! opt-in at the current time, so a late redelivery of the old `STOP` does not undo it, and it
//! is audited.

use std::io::Write;

use clap::Subcommand;
use switchyard::App;

use crate::cli::CliError;

#[derive(Debug, Subcommand)]
pub enum WhatsappCmd {
    /// Opt-outs of recipients (people who wrote STOP or UNSUBSCRIBE).
    #[command(subcommand)]
    Optout(OptoutCmd),
}

#[derive(Debug, Subcommand)]
pub enum OptoutCmd {
    /// Opted-out recipients (of one instance, or of all).
    List {
        #[arg(long)]
        instance: Option<String>,
    },
    /// Lifts a recipient's opt-out: sends to them are allowed again.
    Remove {
        #[arg(long)]
        instance: String,
        /// The recipient's WhatsApp id (phone number, digits only).
        #[arg(long)]
        recipient: String,
    },
}

/// Runs a `whatsapp` command.
pub async fn command(app: &App, cmd: WhatsappCmd, out: &mut dyn Write) -> Result<(), CliError> {
    let recipients = &app.tools().recipients;
    match cmd {
        WhatsappCmd::Optout(OptoutCmd::List { instance }) => {
            let found = recipients.opted_out(instance.as_deref()).await?;
            writeln!(out, "{}", serde_json::to_string_pretty(&found)?)?;
        }
        WhatsappCmd::Optout(OptoutCmd::Remove {
            instance,
            recipient,
        }) => {
            let recipient = recipient.trim().trim_start_matches('+').to_owned();
            let known = recipients.get(&instance, &recipient).await?;
            if !known.opted_out() {
                return Err(format!("{recipient} is not opted out of {instance}").into());
            }
            let now = app.clock.now();
            recipients.lift_opt_out(&instance, &recipient, now).await?;
            app.audit
                .record(
                    &format!("instance#{instance}"),
                    &app.actor,
                    "recipient_opt_out_lifted",
                    &format!("recipient {recipient}"),
                    now,
                )
                .await?;
            writeln!(
                out,
                "{recipient} may receive messages from {instance} again"
            )?;
        }
    }
    Ok(())
}
