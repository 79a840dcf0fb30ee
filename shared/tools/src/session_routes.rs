//! The routes of the sessions function (`POST /sessions`, `GET /sessions/{id}`,
//! `POST /sessions/{id}/checkpoints|resume|status`, `GET /templates`,
//! `POST /templates/{id}/render`), dispatched by method and path so the Lambda and the local host
//! serve exactly the same table.

use serde_json::json;

use switchyard_core::identity::Principal;

use crate::sessions::{self, ApiReply};
use crate::{prompts, Tools};

/// Answers one request of an authenticated `principal`.
pub async fn route(
    app: &Tools,
    principal: &Principal,
    method: &str,
    path: &str,
    body: &[u8],
) -> ApiReply {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("POST", ["sessions"]) => sessions::create(app, principal, body).await,
        ("GET", ["sessions", id]) => sessions::get(app, principal, id).await,
        ("POST", ["sessions", id, "checkpoints"]) => {
            sessions::checkpoint(app, principal, id, body).await
        }
        ("POST", ["sessions", id, "resume"]) => sessions::resume(app, principal, id).await,
        ("POST", ["sessions", id, "status"]) => {
            sessions::set_status(app, principal, id, body).await
        }
        ("GET", ["templates"]) => prompts::list(),
        ("POST", ["templates", id, "render"]) => {
            prompts::render_route(app, principal, id, body).await
        }
        _ => ApiReply {
            status: 404,
            body: json!({"error": {"code": "not_found", "message": "no such route"}}),
        },
    }
}
