//! Who may connect, and how: SCRAM-SHA-256 users, TLS, the loopback rule and the connection
//! limit. Everything here happens before a connection's first query.
//!
//! Users are stored as SCRAM secrets `SCRAM-SHA-256$<iterations>:<salt>$<salted password>`
//! (base64; made by [`scram_secret`], `loginsight hash-password`). pgwire's SCRAM server
//! verifies a proof from the *salted* password (RFC 5802 `SaltedPassword`), so that is what
//! the secret keeps: a PBKDF2 hash, never the password.
//!
//! With no users configured the endpoint trusts its peers, and so accepts only loopback peers
//! (the server also refuses to bind a non-loopback address then).

use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::Sink;
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{SCRAM_ITERATIONS, ScramAuth, gen_salted_password};
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::{ClientInfo, ConnectionManager};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::tokio_rustls::rustls;

use crate::error::SqlError;

const SCHEME: &str = "SCRAM-SHA-256";

/// How the endpoint admits connections.
#[derive(Clone, Default)]
pub struct Access {
    /// Users and their SCRAM secrets; empty: no authentication, loopback peers only.
    pub users: Vec<User>,
    /// TLS certificate chain and private key (PEM files); `None`: plain connections only.
    pub tls: Option<TlsFiles>,
    /// Most connections open at once; 0: unlimited.
    pub max_connections: usize,
    /// Longest a statement may run (planning and sending its rows); `None`: unlimited. A
    /// session's `SET statement_timeout` overrides it.
    pub statement_timeout: Option<std::time::Duration>,
}

impl Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field(
                "users",
                &self.users.iter().map(|u| &u.name).collect::<Vec<_>>(),
            )
            .field("tls", &self.tls)
            .field("max_connections", &self.max_connections)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A user and the salt and salted password of their SCRAM secret.
#[derive(Clone)]
pub struct User {
    pub name: String,
    salt: Vec<u8>,
    salted_password: Vec<u8>,
}

impl Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl User {
    /// A user from a secret made by [`scram_secret`].
    pub fn with_secret(name: &str, secret: &str) -> Result<User, SqlError> {
        let bad = |why: &str| {
            SqlError::Config(format!(
                "the secret of user {name:?} is not a {SCHEME} secret ({why}); make one with \
                 `loginsight hash-password`"
            ))
        };
        let rest = secret
            .strip_prefix(SCHEME)
            .and_then(|r| r.strip_prefix('$'))
            .ok_or_else(|| bad("it must start with SCRAM-SHA-256$"))?;
        let (params, salted) = rest.split_once('$').ok_or_else(|| bad("no second $"))?;
        let (iterations, salt) = params.split_once(':').ok_or_else(|| bad("no iterations"))?;
        if iterations != SCRAM_ITERATIONS.to_string() {
            return Err(bad(&format!(
                "the iteration count must be {SCRAM_ITERATIONS}"
            )));
        }
        let salt = STANDARD
            .decode(salt)
            .map_err(|_| bad("the salt is not base64"))?;
        let salted_password = STANDARD
            .decode(salted)
            .map_err(|_| bad("the key is not base64"))?;
        if salt.is_empty() || salted_password.len() != 32 {
            return Err(bad("wrong lengths"));
        }
        Ok(User {
            name: name.to_string(),
            salt,
            salted_password,
        })
    }

    /// A user from a password, hashed with a fresh salt.
    pub fn with_password(name: &str, password: &str) -> User {
        let secret = scram_secret(password);
        User::with_secret(name, &secret).expect("a secret just made is well-formed")
    }
}

/// The SCRAM secret of `password` with a fresh random salt.
pub fn scram_secret(password: &str) -> String {
    // Random bytes from pgwire's nonce generator (base64 of 18 random bytes).
    let salt = pgwire::api::auth::sasl::scram::random_nonce().into_bytes();
    let salted = gen_salted_password(password, &salt, SCRAM_ITERATIONS);
    format!(
        "{SCHEME}${SCRAM_ITERATIONS}:{}${}",
        STANDARD.encode(&salt),
        STANDARD.encode(salted)
    )
}

/// A user for the server's own connections (the in-process worker reads its context over the
/// endpoint), with a random password that lives only in this process.
pub fn internal_user() -> (User, String) {
    let password: String = pgwire::api::auth::sasl::scram::random_nonce()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    (
        User::with_password("loginsight-internal", &password),
        password,
    )
}

#[derive(Debug)]
struct Users(Vec<User>);

#[async_trait]
impl AuthSource for Users {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let name = login.user().unwrap_or_default();
        match self.0.iter().find(|u| u.name == name) {
            Some(user) => Ok(Password::new(
                Some(user.salt.clone()),
                user.salted_password.clone(),
            )),
            // The same answer as a wrong password: no telling which users exist.
            None => Err(PgWireError::InvalidPassword(name.to_string())),
        }
    }
}

/// Builds the TLS acceptor from PEM files.
pub(crate) fn tls_acceptor(files: &TlsFiles) -> Result<(TlsAcceptor, Vec<u8>), SqlError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert_pem = std::fs::read(&files.cert).map_err(|e| {
        SqlError::Config(format!(
            "cannot read TLS certificate {}: {e}",
            files.cert.display()
        ))
    })?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SqlError::Config(format!("TLS certificate {}: {e}", files.cert.display())))?;
    if certs.is_empty() {
        return Err(SqlError::Config(format!(
            "TLS certificate {} holds no certificate",
            files.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| SqlError::Config(format!("TLS key {}: {e}", files.key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| SqlError::Config(format!("TLS certificate and key: {e}")))?;
    Ok((TlsAcceptor::from(Arc::new(config)), cert_pem))
}

/// Open connections, for the limit.
#[derive(Debug, Default)]
pub(crate) struct Gauge(AtomicUsize);

impl Gauge {
    pub(crate) fn enter(self: &Arc<Self>) -> Entered {
        self.0.fetch_add(1, Ordering::SeqCst);
        Entered(self.clone())
    }

    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// One open connection; leaving decrements the count.
pub(crate) struct Entered(Arc<Gauge>);

impl Drop for Entered {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Trust (no users) — registers the connection for cancel requests.
pub(crate) struct Trust {
    pub(crate) connections: Arc<ConnectionManager>,
}

impl NoopStartupHandler for Trust {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(self.connections.clone())
    }
}

/// The startup handler of one connection: the connection limit first, then trust or SCRAM.
pub(crate) struct Startup {
    pub(crate) limit: usize,
    pub(crate) open: Arc<Gauge>,
    pub(crate) inner: Admit,
}

pub(crate) enum Admit {
    Trust(Trust),
    Scram(SASLAuthStartupHandler<DefaultServerParameterProvider>),
}

impl Startup {
    /// A fresh handler for one connection (the SCRAM exchange keeps per-connection state).
    pub(crate) fn new(
        access: &Access,
        channel_binding_cert: Option<&[u8]>,
        connections: Arc<ConnectionManager>,
        open: Arc<Gauge>,
    ) -> Startup {
        let inner = if access.users.is_empty() {
            Admit::Trust(Trust { connections })
        } else {
            let mut scram = ScramAuth::new(Arc::new(Users(access.users.clone())));
            scram.set_iterations(SCRAM_ITERATIONS);
            if let Some(pem) = channel_binding_cert
                && let Err(err) = scram.configure_certificate(pem)
            {
                // SCRAM-SHA-256 without -PLUS still works.
                tracing::warn!(error = %err, "no SCRAM channel binding for this certificate");
            }
            Admit::Scram(
                SASLAuthStartupHandler::new(Arc::new(DefaultServerParameterProvider::default()))
                    .with_scram(scram)
                    .with_connection_manager(connections),
            )
        };
        Startup {
            limit: access.max_connections,
            open,
            inner,
        }
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if matches!(message, PgWireFrontendMessage::Startup(_))
            && self.limit > 0
            && self.open.get() > self.limit
        {
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".into(),
                "53300".into(),
                format!(
                    "sorry, too many clients already: the endpoint allows {} connections \
                     (sql.max_connections)",
                    self.limit
                ),
            ))));
        }
        match &self.inner {
            Admit::Trust(h) => h.on_startup(client, message).await,
            Admit::Scram(h) => h.on_startup(client, message).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_bad_ones_are_named() {
        let secret = scram_secret("s3cret");
        assert!(secret.starts_with("SCRAM-SHA-256$4096:"), "{secret}");
        assert!(!secret.contains("s3cret"));
        let user = User::with_secret("grafana", &secret).unwrap();
        assert_eq!(
            user.salted_password,
            gen_salted_password("s3cret", &user.salt, 4096)
        );
        assert_ne!(scram_secret("s3cret"), secret, "a fresh salt each time");
        let err = User::with_secret("grafana", "plain-password").unwrap_err();
        assert!(err.to_string().contains("grafana"), "{err}");
        assert!(!format!("{user:?}").contains(&STANDARD.encode(&user.salted_password)));
    }
}
