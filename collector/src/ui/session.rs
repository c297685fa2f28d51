//! Signing in and out of the web view, the session cookie and the CSRF
//! check (the rules are in the module above).

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{render, same_origin, unavailable, Page, SessionView};
use crate::api::AppState;
use crate::auth::{self, Role};
use crate::store::{now_us, SessionRecord};

/// The session cookie's name.
pub const COOKIE: &str = "frontier_ui";
/// How long a session lasts.
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// A signed-in reader or operator.
#[derive(Debug, Clone)]
pub struct Session {
    pub token_id: String,
    pub role: Role,
    pub csrf: String,
}

impl Session {
    pub fn view(&self) -> Option<SessionView> {
        Some(self.into())
    }

    pub fn is_operator(&self) -> bool {
        self.role == Role::Operator
    }

    /// An operator's form: the CSRF token it carries must be the
    /// session's, and the request must come from this site.
    pub fn check_action(&self, headers: &HeaderMap, csrf: Option<&str>) -> Result<(), Page> {
        if !same_origin(headers) {
            return Err(Page::Error(
                StatusCode::FORBIDDEN,
                "this form was sent from another site; nothing was done".into(),
                self.view(),
            ));
        }
        let given = csrf.unwrap_or("").as_bytes();
        if given.is_empty() || !bool::from(given.ct_eq(self.csrf.as_bytes())) {
            return Err(Page::Error(
                StatusCode::FORBIDDEN,
                "the form's CSRF token is missing or not this session's; nothing was done; fix: reload the page and submit it again".into(),
                self.view(),
            ));
        }
        if !self.is_operator() {
            return Err(Page::Error(
                StatusCode::FORBIDDEN,
                "a reader may look but not act; fix: sign in with an operator token".into(),
                self.view(),
            ));
        }
        Ok(())
    }
}

fn sha(s: &str) -> String {
    format!("{:x}", Sha256::digest(s.as_bytes()))
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The request's session, or the sign-in page (a redirect) without one.
pub async fn require(state: &AppState, headers: &HeaderMap) -> Result<Session, Page> {
    let Some(value) = cookie_value(headers) else {
        return Err(Page::Redirect("/ui/login".into()));
    };
    // A cookie that is not 64 hex digits was never ours.
    if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Page::Redirect("/ui/login?expired=1".into()));
    }
    match state.store.session(&sha(&value), now_us()).await {
        Ok(Some(SessionRecord {
            token_id,
            role,
            csrf,
            ..
        })) => match Role::parse(&role) {
            Some(role @ (Role::Reader | Role::Operator)) => Ok(Session {
                token_id,
                role,
                csrf,
            }),
            _ => Err(Page::Redirect("/ui/login?expired=1".into())),
        },
        Ok(None) => Err(Page::Redirect("/ui/login?expired=1".into())),
        Err(e) => Err(unavailable(state, e)),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    session: Option<SessionView>,
    nav: &'a str,
    notice: Option<String>,
    error: Option<String>,
    hours: u64,
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    expired: Option<String>,
}

pub async fn login_form(axum::extract::Query(q): axum::extract::Query<LoginQuery>) -> Page {
    render(&LoginPage {
        session: None,
        nav: "",
        notice: q
            .expired
            .map(|_| "Your session ended or is not valid here; sign in again.".to_string()),
        error: None,
        hours: LIFETIME.as_secs() / 3600,
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

fn login_error(status: StatusCode, message: &str) -> Response {
    let page = render(&LoginPage {
        session: None,
        nav: "",
        notice: None,
        error: Some(message.to_string()),
        hours: LIFETIME.as_secs() / 3600,
    });
    let mut r = page.into_response();
    *r.status_mut() = status;
    r
}

/// `POST /ui/login`: a reader or operator token makes a session.
pub async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) {
        return login_error(StatusCode::FORBIDDEN, "sign-in from another site refused");
    }
    // A token pasted with spaces or a line break around it.
    let token = form.token.trim();
    let principal = match auth::verify(&state.store, token).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return login_error(
                StatusCode::UNAUTHORIZED,
                "unknown or revoked token; fix: frontier-collector token create --role reader (or operator)",
            )
        }
        Err(e) => return unavailable(&state, e).into_response(),
    };
    if !matches!(principal.role, Role::Reader | Role::Operator) {
        return login_error(
            StatusCode::FORBIDDEN,
            &format!(
                "a {} token cannot sign in to the web view; fix: use a reader or operator token",
                principal.role.as_str()
            ),
        );
    }
    let secret = auth::random_hex(32);
    let record = SessionRecord {
        token_id: principal.token_id.clone(),
        role: principal.role.as_str().to_string(),
        csrf: auth::random_hex(32),
        expires_at_us: now_us() + LIFETIME.as_micros() as i64,
    };
    if let Err(e) = state
        .store
        .create_session(&sha(&secret), &record, now_us())
        .await
    {
        return unavailable(&state, e).into_response();
    }
    let mut r = Page::Redirect("/ui".into()).into_response();
    // Behind a TLS-terminating proxy the cookie is also `Secure` (the
    // collector itself speaks plain HTTP, where a Secure cookie would not
    // come back).
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let cookie = format!(
        "{COOKIE}={secret}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{}",
        LIFETIME.as_secs(),
        if https { "; Secure" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

/// `POST /ui/logout`: the session is deleted and the cookie cleared.
pub async fn logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let session = match require(&state, &headers).await {
        Ok(s) => s,
        Err(p) => return p.into_response(),
    };
    // Signing out is allowed to readers; it still needs the CSRF token.
    let given = form.csrf.unwrap_or_default();
    if !same_origin(&headers) || !bool::from(given.as_bytes().ct_eq(session.csrf.as_bytes())) {
        return Page::Error(
            StatusCode::FORBIDDEN,
            "the sign-out form's CSRF token is missing or wrong; fix: reload the page".into(),
            session.view(),
        )
        .into_response();
    }
    if let Some(v) = cookie_value(&headers) {
        if let Err(e) = state.store.delete_session(&sha(&v)).await {
            return unavailable(&state, e).into_response();
        }
    }
    let mut r = Page::Redirect("/ui/login".into()).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("frontier_ui=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    r
}
