//! [`Mailer`]: account mail (verification links, password resets), plain text plus HTML.
//!
//! With `TANDEM_SMTP_URL` the message goes to that SMTP server (lettre, rustls). Without it
//! (development) each message is written to `<TANDEM_DATA_DIR>/mail/<time>-<id>.eml` and the
//! log says where. Messages are sent from a background task: a slow or failing mail server
//! never delays an answer, and the time an answer takes does not say whether a message went out
//! (password resets answer the same for unknown addresses).

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// One message to one recipient.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body (the same content).
    pub html: String,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

/// Sends account mail.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    public_url: String,
}

impl Mailer {
    /// A mailer over `smtp_url`, or writing to `<data_dir>/mail/` when there is none.
    ///
    /// # Errors
    /// A malformed SMTP URL or sender.
    pub fn new(
        smtp_url: Option<&str>,
        from: &str,
        data_dir: &std::path::Path,
        public_url: &str,
    ) -> anyhow::Result<Self> {
        let from: Mailbox = from.parse().context("TANDEM_MAIL_FROM is not a mailbox")?;
        let transport = match smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("TANDEM_SMTP_URL is not a usable SMTP URL: {e}"))?
                    .timeout(Some(Duration::from_secs(15)))
                    .build(),
            ),
            None => Transport::Files(data_dir.join("mail")),
        };
        if let Transport::Files(dir) = &transport {
            tracing::info!(dir = %dir.display(), "no TANDEM_SMTP_URL: account mail is written to files");
        }
        Ok(Self { transport, from, public_url: public_url.trim_end_matches('/').to_string() })
    }

    /// `<public url><path>`: links in messages point at the deployment's web app.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }

    fn build(&self, mail: &Mail) -> anyhow::Result<Message> {
        let to: Mailbox = mail.to.parse().context("the recipient is not a mailbox")?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
            .context("Failed to build a message")
    }

    /// Send `mail` now.
    ///
    /// # Errors
    /// The message cannot be built, the SMTP server refuses it, or the file cannot be written.
    pub async fn send(&self, mail: &Mail) -> anyhow::Result<()> {
        let message = self.build(mail)?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await.context("Failed to send a message over SMTP")?;
                metrics::counter!("auth_mail_sent_total", "via" => "smtp").increment(1);
            }
            Transport::Files(dir) => {
                tokio::fs::create_dir_all(dir).await.with_context(|| format!("Failed to create {}", dir.display()))?;
                let name =
                    format!("{}-{}.eml", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f"), uuid::Uuid::new_v4().simple());
                let path = dir.join(name);
                tokio::fs::write(&path, message.formatted())
                    .await
                    .with_context(|| format!("Failed to write {}", path.display()))?;
                metrics::counter!("auth_mail_sent_total", "via" => "file").increment(1);
                tracing::info!(path = %path.display(), subject = %mail.subject, "account mail written to a file (no SMTP configured)");
            }
        }
        Ok(())
    }

    /// Send `mail` from a background task; failures are logged (without the message).
    pub fn send_later(self: &Arc<Self>, mail: Mail) {
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.send(&mail).await {
                metrics::counter!("auth_mail_failures_total").increment(1);
                tracing::error!(error.cause_chain = ?e, subject = %mail.subject, "failed to send account mail");
            }
        });
    }
}

/// Escape text for HTML.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
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

/// A message with one call to action: `intro` text, a button to `link`, then `outro`.
pub(crate) fn with_link(to: &str, subject: &str, intro: &str, action: &str, link: &str, outro: &str) -> Mail {
    let text = format!("{intro}\n\n{action}:\n{link}\n\n{outro}\n");
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\">\
         <p>{}</p><p><a href=\"{}\" style=\"display:inline-block;padding:10px 16px;background:#222;color:#fff;\
         text-decoration:none;border-radius:6px\">{}</a></p><p>Or open this link: {}</p><p>{}</p></body></html>",
        escape(intro),
        escape(link),
        escape(action),
        escape(link),
        escape(outro)
    );
    Mail { to: to.to_string(), subject: subject.to_string(), text, html }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped_and_both_parts_carry_the_link() {
        let m = with_link("a@b.c", "Hi", "<b>x</b>", "Go", "https://t.example/p#token=a&b", "bye");
        assert!(m.html.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(m.html.contains("https://t.example/p#token=a&amp;b"));
        assert!(m.text.contains("https://t.example/p#token=a&b"));
    }

    #[tokio::test]
    async fn without_smtp_messages_are_files() {
        let dir = std::env::temp_dir().join(format!("tandem-mail-{}", uuid::Uuid::new_v4().simple()));
        let mailer = Mailer::new(None, "Tandem <no-reply@localhost>", &dir, "http://x.test/").unwrap();
        assert_eq!(mailer.link("/a"), "http://x.test/a");
        mailer.send(&with_link("ann@example.com", "Verify", "Hello", "Verify", "http://x.test/v", "")).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.join("mail")).unwrap().collect();
        assert_eq!(files.len(), 1);
        let body = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
        assert!(body.contains("To: ann@example.com") && body.contains("text/html"), "{body}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
