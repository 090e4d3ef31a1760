//! The REST API as the operator's commands use it: log in with an API key (or take a
//! token), then GET what they need under the account, unwrapping the Crossbar envelope.

use serde_json::Value;

use super::CliError;

/// How to prove who you are.
#[derive(Clone)]
pub enum Auth {
    /// Traded for a token with `PUT /v2/api_auth` (its account is the one read).
    ApiKey(String),
    /// A token from an earlier login; the account must then be named.
    Token(String),
}

/// A logged-in client for one account.
pub struct ApiClient {
    base: url::Url,
    http: reqwest::Client,
    token: String,
    pub account: String,
}

impl ApiClient {
    /// Logs in (with a key) or checks that a token comes with an account.
    pub async fn connect(
        api: &str,
        auth: Auth,
        account: Option<String>,
    ) -> Result<ApiClient, CliError> {
        let base = url::Url::parse(api)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| CliError::Usage(format!("--api: {api:?} is not an http(s) URL")))?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|source| CliError::Connect {
                url: api.into(),
                source,
            })?;
        let mut client = ApiClient {
            base,
            http,
            token: String::new(),
            account: account.clone().unwrap_or_default(),
        };
        match auth {
            Auth::Token(token) => {
                if account.is_none() {
                    return Err(CliError::Usage(
                        "--token needs --account (the account the token belongs to)".into(),
                    ));
                }
                client.token = token;
            }
            Auth::ApiKey(key) => client.login(&key, account).await?,
        }
        Ok(client)
    }

    async fn login(&mut self, key: &str, account: Option<String>) -> Result<(), CliError> {
        let body = serde_json::json!({"data": {"api_key": key}});
        let req = self.http.put(self.url(&["v2", "api_auth"]));
        let answer = self.send(req.body(body.to_string())).await?;
        self.token = answer["auth_token"].as_str().unwrap_or("").to_string();
        let own = answer["data"]["account_id"].as_str().unwrap_or("");
        self.account = account.unwrap_or_else(|| own.to_string());
        if self.token.is_empty() || self.account.is_empty() {
            return Err(CliError::BadAnswer("the login gave no token".into()));
        }
        Ok(())
    }

    /// `GET /v2/accounts/{account}/pivot/debug/{call_id}[/{more}]`: the envelope's `data`.
    pub async fn debug(&self, call_id: &str, more: Option<&str>) -> Result<Value, CliError> {
        let mut segments = vec!["v2", "accounts", &self.account, "pivot", "debug", call_id];
        segments.extend(more);
        let req = self.http.get(self.url(&segments));
        let answer = self.send(req.header("X-Auth-Token", &self.token)).await?;
        Ok(answer["data"].clone())
    }

    /// The URL with each segment percent-encoded (a call id may hold `/` or `%`).
    fn url(&self, segments: &[&str]) -> url::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value, CliError> {
        let connect = |source| CliError::Connect {
            url: self.base.to_string(),
            source,
        };
        let resp = req.send().await.map_err(connect)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(connect)?;
        let answer: Value = serde_json::from_slice(&bytes)
            .map_err(|e| CliError::BadAnswer(format!("{status}, not JSON: {e}")))?;
        let message = answer["message"].as_str().unwrap_or("").to_string();
        match status {
            200..=299 => Ok(answer),
            404 => Err(CliError::NotFound(message)),
            _ => Err(CliError::Api { status, message }),
        }
    }
}
