//! The options every live command shares: where the admin API is, the
//! token, which rollout; and the operator of commands.

use std::path::PathBuf;
use std::time::Duration;

use crate::Failure;
use crate::api::{self, Client, RolloutList, Token, TokenSource};

/// Where the admin API is and how to talk to it.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Admin API")]
pub(crate) struct Conn {
    /// The admin API's address: where the service mounts it, e.g.
    /// http://host:8080/fledge.
    #[arg(long, env = "FLEDGE_URL", value_name = "URL")]
    url: Option<String>,
    /// A file holding the admin token. Default: the FLEDGE_ADMIN_TOKEN
    /// variable. Without either, no token is sent (fine for reads when the
    /// API leaves them open).
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// The rollout. Default: the only one the API serves.
    #[arg(long, env = "FLEDGE_ROLLOUT", value_name = "NAME")]
    rollout: Option<String>,
    /// The time-out of each request to the API (e.g. 10s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    http_timeout: Duration,
}

/// Who gives a command.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Operator")]
pub(crate) struct Operator {
    /// Who gives the command, recorded in the event when the API reads
    /// the operator from a header. Default: $USER.
    #[arg(long, env = "FLEDGE_OPERATOR", value_name = "NAME")]
    by: Option<String>,
    /// The header the API reads the operator from (its `operator_header`).
    #[arg(
        long,
        env = "FLEDGE_OPERATOR_HEADER",
        value_name = "HEADER",
        default_value = "x-forwarded-user"
    )]
    operator_header: String,
}

/// A client and the rollout it is about.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) client: Client,
    pub(crate) name: String,
}

impl Target {
    /// The path of the rollout, plus `rest` (`""`, `"/events"`, ...).
    pub(crate) fn path(&self, rest: &str) -> String {
        format!("/rollouts/{}{rest}", api::segment(&self.name))
    }
}

/// Parses a duration as plans write them (`30s`, `500ms`, `1h30m`).
pub(crate) fn duration(s: &str) -> Result<Duration, String> {
    fledge_rollout::duration::parse(s).map_err(|e| e.to_string())
}

impl Conn {
    /// The token: `--token-file`, else `FLEDGE_ADMIN_TOKEN`, else none.
    fn token(&self) -> Result<Option<Token>, Failure> {
        if let Some(path) = &self.token_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::Usage(format!("cannot read --token-file {}: {e}", path.display()))
            })?;
            return Token::new(&text, TokenSource::File(path.clone())).map(Some);
        }
        match std::env::var("FLEDGE_ADMIN_TOKEN") {
            Ok(value) if !value.trim().is_empty() => Token::new(&value, TokenSource::Env).map(Some),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(Failure::Usage(
                "FLEDGE_ADMIN_TOKEN is not valid text".to_owned(),
            )),
        }
    }

    /// A client of the API.
    pub(crate) fn client(&self) -> Result<Client, Failure> {
        let url = self.url.as_deref().ok_or_else(|| {
            Failure::Usage(
                "where is the admin API? pass --url (e.g. http://host:8080/fledge) or set FLEDGE_URL"
                    .to_owned(),
            )
        })?;
        Client::new(url, self.token()?, self.http_timeout)
    }

    /// A client and the rollout: `--rollout`, else the only one listed.
    pub(crate) fn target(&self) -> Result<Target, Failure> {
        self.resolve(self.client()?)
    }

    fn resolve(&self, client: Client) -> Result<Target, Failure> {
        let name = match &self.rollout {
            Some(name) if !name.trim().is_empty() => name.trim().to_owned(),
            _ => {
                let (list, _) = client.get::<RolloutList>("/rollouts")?;
                let mut names: Vec<String> = list.rollouts.into_iter().map(|r| r.name).collect();
                match names.len() {
                    0 => {
                        return Err(Failure::Other(format!(
                            "{} lists no rollout",
                            client.url("/rollouts")
                        )));
                    }
                    1 => names.remove(0),
                    n => {
                        return Err(Failure::Usage(format!(
                            "the API serves {n} rollouts ({}): pick one with --rollout or FLEDGE_ROLLOUT",
                            names.join(", ")
                        )));
                    }
                }
            }
        };
        Ok(Target { client, name })
    }

    /// A target whose client sends the operator with commands; a command
    /// always needs the token.
    pub(crate) fn command_target(&self, operator: &Operator) -> Result<Target, Failure> {
        let mut client = self.client()?;
        if !client.has_token() {
            return Err(Failure::Usage(
                "commands need the admin token: set FLEDGE_ADMIN_TOKEN or pass --token-file"
                    .to_owned(),
            ));
        }
        let by = operator
            .by
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .or_else(|| std::env::var("LOGNAME").ok())
            .filter(|b| !b.trim().is_empty());
        if let Some(by) = by {
            client = client.with_operator(&operator.operator_header, &by)?;
        }
        self.resolve(client)
    }
}
