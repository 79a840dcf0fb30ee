//! The dashboard's HTML: one self-contained page (inline CSS, no script, no external asset),
//! every stored value escaped on the way out ([`escape`]), since instance labels, tool inputs
//! and provider error text are written by others.

use std::fmt::Write as _;

use switchyard_core::clock::rfc3339;

use crate::gather::{Section, SectionError, Snapshot};

/// `text` safe inside HTML text and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}\
header{background:#1d2330;color:#fff;padding:12px 24px}header h1{font-size:18px;margin:0}\
main{padding:16px 24px;display:grid;gap:16px}section{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:12px 16px}\
h2{font-size:15px;margin:0 0 8px}table{border-collapse:collapse;width:100%}\
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef0f4;vertical-align:top}th{color:#5b6475;font-weight:600}\
.error{background:#fdecec;border:1px solid #e5a0a0;color:#8a1f1f;padding:8px;border-radius:4px}\
.empty{color:#7a8294}.bad{color:#b42318;font-weight:600}.ok{color:#067647}.num{text-align:right}\
form{display:grid;gap:8px;max-width:420px}input{font:inherit;padding:6px}button{font:inherit;padding:6px 12px}";

fn time(secs: Option<u64>) -> String {
    secs.map_or_else(|| "—".to_owned(), rfc3339)
}

/// A section: its rows as a table, "none" when empty, or an error box when it could not be read.
fn section<T>(
    out: &mut String,
    id: &str,
    title: &str,
    rows: &Section<Vec<T>>,
    head: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) {
    let _ = write!(out, "<section id=\"{id}\"><h2>{}</h2>", escape(title));
    match rows {
        Err(e) => error_box(out, e),
        Ok(rows) if rows.is_empty() => out.push_str("<p class=\"empty\">none</p>"),
        Ok(rows) => {
            out.push_str("<table><thead><tr>");
            for h in head {
                let _ = write!(out, "<th>{}</th>", escape(h));
            }
            out.push_str("</tr></thead><tbody>");
            for r in rows {
                out.push_str("<tr>");
                // Cells come pre-escaped from `row`, which may add markup around escaped text.
                for cell in row(r) {
                    let _ = write!(out, "<td>{cell}</td>");
                }
                out.push_str("</tr>");
            }
            out.push_str("</tbody></table>");
        }
    }
    out.push_str("</section>");
}

fn error_box(out: &mut String, e: &SectionError) {
    let _ = write!(
        out,
        "<div class=\"error\" role=\"alert\">could not load: {}</div>",
        escape(&e.to_string())
    );
}

fn cost(receipt: &switchyard_tools::receipts::Receipt) -> String {
    match (receipt.cost_usd, receipt.cost) {
        (Some(usd), _) => format!("${usd:.4}"),
        (None, Some(units)) => format!("{units:.4}"),
        (None, None) => "—".to_owned(),
    }
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    )
}

/// The dashboard page for `snapshot`.
pub fn dashboard(snapshot: &Snapshot, operator: &str) -> String {
    let now = snapshot.now;
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<header><h1>Switchyard operator dashboard</h1><small>as of {} · operator {}</small></header><main>",
        escape(&rfc3339(now)),
        escape(operator)
    );
    section(
        &mut out,
        "instances",
        "Instances",
        &snapshot.instances,
        &[
            "instance",
            "provider",
            "workspace",
            "label",
            "granted agents",
            "created",
        ],
        |i| {
            vec![
                escape(&i.id),
                escape(&i.provider),
                escape(&i.workspace),
                escape(i.config.get("label").map_or("", String::as_str)),
                escape(&i.grants.keys().cloned().collect::<Vec<_>>().join(", ")),
                escape(&time(Some(i.created_at))),
            ]
        },
    );
    section(
        &mut out,
        "connections",
        "Connections",
        &snapshot.connections,
        &[
            "instance",
            "status",
            "owner",
            "account",
            "token expires",
            "last error",
        ],
        |c| {
            let status = c.status.as_str();
            let class = if status == "active" { "ok" } else { "bad" };
            vec![
                escape(&c.instance_id),
                format!("<span class=\"{class}\">{}</span>", escape(status)),
                escape(c.owner.as_deref().unwrap_or("(shared)")),
                escape(
                    c.account_name
                        .as_deref()
                        .or(c.account_email.as_deref())
                        .or(c.account_id.as_deref())
                        .unwrap_or(""),
                ),
                escape(&time(c.token_expires_at)),
                escape(c.last_error.as_deref().unwrap_or("")),
            ]
        },
    );
    section(
        &mut out,
        "watches",
        "Watches",
        &snapshot.watches,
        &[
            "instance",
            "resource",
            "status",
            "lag (s)",
            "last sync",
            "expires",
            "last error",
        ],
        |w| {
            vec![
                escape(&w.watch.instance_id),
                escape(&format!(
                    "{}:{}",
                    w.watch.resource_type, w.watch.resource_id
                )),
                escape(w.watch.status.as_str()),
                format!("<span class=\"num\">{}</span>", w.lag_secs),
                escape(&time(w.watch.last_sync_at)),
                escape(&time(w.watch.expires_at)),
                escape(w.watch.last_error.as_deref().unwrap_or("")),
            ]
        },
    );
    section(
        &mut out,
        "dlq",
        "Dead-letter queues",
        &snapshot.dlqs,
        &["queue", "messages", "in flight"],
        |d| {
            let class = if d.visible > 0 { "bad" } else { "ok" };
            vec![
                escape(&d.name),
                format!("<span class=\"{class}\">{}</span>", d.visible),
                d.in_flight.to_string(),
            ]
        },
    );
    section(
        &mut out,
        "breakers",
        "Open circuit breakers",
        &snapshot.breakers,
        &["instance", "tool", "opened", "failures", "reason"],
        |b| {
            vec![
                escape(&b.instance_id),
                escape(&b.tool),
                escape(&time(b.disabled_at)),
                b.failures.to_string(),
                escape(&b.reason),
            ]
        },
    );
    section(
        &mut out,
        "approvals",
        "Pending approvals",
        &snapshot.approvals,
        &[
            "approval", "tool", "instance", "agent", "created", "expires",
        ],
        |a| {
            vec![
                escape(&a.id),
                escape(&a.tool),
                escape(&a.instance_id),
                escape(&a.agent_id),
                escape(&time(Some(a.created_at))),
                escape(&time(Some(a.expires_at))),
            ]
        },
    );
    let receipt_row = |r: &switchyard_tools::receipts::Receipt| {
        let class = if r.status == "ok" { "ok" } else { "bad" };
        vec![
            escape(&time(Some(r.created_at))),
            escape(&r.tool),
            escape(&r.instance_id),
            escape(&r.agent_id),
            format!("<span class=\"{class}\">{}</span>", escape(&r.status)),
            r.latency_ms.to_string(),
            escape(&cost(r)),
        ]
    };
    let head = ["at", "tool", "instance", "agent", "status", "ms", "cost"];
    let recent = snapshot
        .receipts
        .as_ref()
        .map(|r| r.recent.clone())
        .map_err(Clone::clone);
    section(
        &mut out,
        "receipts",
        "Recent receipts",
        &recent,
        &head,
        receipt_row,
    );
    let errors = snapshot
        .receipts
        .as_ref()
        .map(|r| r.errors.clone())
        .map_err(Clone::clone);
    section(
        &mut out,
        "errors",
        "Recent errors",
        &errors,
        &head,
        receipt_row,
    );
    if snapshot.receipts.as_ref().is_ok_and(|r| r.truncated) {
        out.push_str("<p class=\"empty\">receipts: the window holds more than one bounded read; the newest shown are from the pages read</p>");
    }
    out.push_str("</main>");
    page("Switchyard dashboard", &out)
}

/// The login form (`POST /dashboard/login`), with `problem` when a login failed.
pub fn login(problem: Option<&str>) -> String {
    let mut body = String::from(
        "<header><h1>Switchyard operator dashboard</h1></header><main><section><h2>Operator login</h2>",
    );
    if let Some(problem) = problem {
        let _ = write!(
            body,
            "<div class=\"error\" role=\"alert\">{}</div>",
            escape(problem)
        );
    }
    body.push_str(
        "<form method=\"post\" action=\"/dashboard/login\">\
         <label for=\"token\">Operator token (<code>switchyard operator token create</code>)</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required>\
         <button type=\"submit\">Log in</button></form></section></main>",
    );
    page("Switchyard dashboard: login", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup_and_attribute_breakouts() {
        assert_eq!(
            escape("<script>alert(\"x\")</script> & 'y'"),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn a_failed_section_is_an_error_box_and_an_empty_one_says_none() {
        let mut out = String::new();
        let failed: Section<Vec<u8>> = Err(SectionError::Unavailable("<b>down</b>".into()));
        section(&mut out, "x", "X", &failed, &["n"], |n| vec![n.to_string()]);
        assert!(out.contains("class=\"error\""), "{out}");
        assert!(out.contains("&lt;b&gt;down"), "{out}");
        let mut out = String::new();
        section(&mut out, "x", "X", &Ok(Vec::<u8>::new()), &["n"], |n| {
            vec![n.to_string()]
        });
        assert!(out.contains("none") && !out.contains("<table>"), "{out}");
    }
}
