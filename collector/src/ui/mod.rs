//! The web view: `/ui`, server-rendered pages of the fleet (boards,
//! predictors, canaries, field latency, frontiers and their rollout, jobs)
//! in the collector itself. No front-end build and no JavaScript: every
//! page is HTML from a template ([`askama`], values escaped) with inline
//! SVG plots from `frontier_predictor::plot`.
//!
//! Access ([`session`]): `POST /ui/login` with a reader or operator token
//! (form field `token`; it is never in a URL or a log) makes a session:
//! a random cookie (`frontier_ui`, HttpOnly, SameSite=Strict, Path=/ui,
//! 8 hours) whose SHA-256 is stored with the token's id and role, ending
//! earlier when the token is revoked or on `POST /ui/logout`. Every
//! action (`POST` under `/ui/` but the login) carries the session's CSRF
//! token (form field `csrf`, compared in constant time) and is refused
//! with 403 without it, for a reader, and when the request's `Origin`
//! is another site. The API's layers (request timeout, metrics) apply.
//!
//! Pages ([`pages`]) read aggregates and pages of rows, never a whole
//! table: the fleet page one query per kind of thing, a board's rows 50 at
//! a time newest first (with CSV and JSON Lines downloads of the filtered
//! rows).

use std::sync::Arc;

use askama::Template;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::api::AppState;

mod pages;
pub mod session;

pub use session::{Session, COOKIE};

/// The routes under `/ui`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui", get(pages::fleet))
        .route("/ui/", get(|| async { Redirect::to("/ui") }))
        .route("/ui/login", get(session::login_form).post(session::login))
        .route("/ui/logout", post(session::logout))
        .route("/ui/boards/{id}", get(pages::board))
        .route("/ui/boards/{id}/rows.csv", get(pages::rows_csv))
        .route("/ui/boards/{id}/rows.jsonl", get(pages::rows_jsonl))
        .route("/ui/frontiers", get(pages::frontiers))
        .route("/ui/frontiers/{name}/promote", post(pages::promote))
        .route("/ui/frontiers/{name}/rollback", post(pages::rollback))
        .route("/ui/jobs", get(pages::jobs).post(pages::create_job))
}

/// What every page's header shows of the session.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub role: String,
    pub token_id: String,
    pub csrf: String,
}

impl From<&Session> for SessionView {
    fn from(s: &Session) -> Self {
        SessionView {
            role: s.role.as_str().to_string(),
            token_id: s.token_id.clone(),
            csrf: s.csrf.clone(),
        }
    }
}

/// A page or an error page; every response is HTML that is not cached.
pub enum Page {
    Html(String),
    Redirect(String),
    Error(StatusCode, String, Option<SessionView>),
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    session: Option<SessionView>,
    nav: &'a str,
    notice: Option<String>,
    status: String,
    message: &'a str,
}

/// The headers every page carries: no caching of fleet data, no framing,
/// no scripts at all (the pages have none).
fn harden(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut r = match self {
            Page::Html(body) => {
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
            }
            Page::Redirect(to) => Redirect::to(&to).into_response(),
            Page::Error(status, message, session) => {
                let body = ErrorPage {
                    session,
                    nav: "",
                    notice: None,
                    status: format!(
                        "{} {}",
                        status.as_u16(),
                        status.canonical_reason().unwrap_or("")
                    ),
                    message: &message,
                }
                .render()
                .unwrap_or_else(|_| message.clone());
                (
                    status,
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    body,
                )
                    .into_response()
            }
        };
        harden(&mut r);
        r
    }
}

/// Render a template, or a 500 page that says so.
pub(crate) fn render<T: Template>(t: &T) -> Page {
    match t.render() {
        Ok(s) => Page::Html(s),
        Err(e) => Page::Error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the page could not be rendered: {e}"),
            None,
        ),
    }
}

/// The database did not answer: a 503 page.
pub(crate) fn unavailable(state: &AppState, e: crate::store::StoreError) -> Page {
    let api = state.database_error(e);
    Page::Error(api.status, api.message, None)
}

/// `Origin`, when the browser sends one, must be this host.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host)
}
