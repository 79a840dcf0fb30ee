//! `media.generate_image`: OpenAI image generation (`gpt-image-1` by default, `dall-e-3`
//! selectable), always asked for `b64_json` so the bytes come in the answer (no second fetch),
//! each image measured and stored as an artifact.

use base64::Engine;
use serde_json::{json, Value};

use super::http::{self, Body, Request};
use super::limits::Limits;
use super::measure;
use super::store::{self, Media};
use crate::executor::Call;
use crate::usage::Usage;
use crate::ToolError;

const DEFAULT_MODEL: &str = "gpt-image-1";

/// The pixels a size string asks for; `auto` counts as the largest size the model may pick.
fn pixels(size: &str) -> Option<u64> {
    if size == "auto" {
        return Some(1536 * 1024);
    }
    let (w, h) = size.split_once('x')?;
    Some(w.parse::<u64>().ok()? * h.parse::<u64>().ok()?)
}

pub(crate) async fn generate(call: &mut Call<'_>, input: &Value) -> Result<Value, ToolError> {
    let limits = Limits::of(call.instance)?;
    let text = |k: &str| input.get(k).and_then(Value::as_str);
    let model = text("model").unwrap_or(DEFAULT_MODEL).to_owned();
    let dalle = model.starts_with("dall-e");
    let size = text("size").unwrap_or(if dalle { "1024x1024" } else { "auto" });
    let quality = text("quality").unwrap_or(if dalle { "standard" } else { "auto" });
    let n = input.get("n").and_then(Value::as_u64).unwrap_or(1);
    let per_image = pixels(size)
        .ok_or_else(|| ToolError::invalid_input_message(format!("size {size} is not WxH")))?;
    // Before the provider is paid: what the call asks for.
    limits.pixels(n.saturating_mul(per_image))?;
    let Some(key) = http::api_key(call, "openai").await? else {
        return Err(ToolError::auth(
            "no OpenAI key for this workspace or the platform",
        ));
    };
    let mut body = json!({"model": model, "prompt": text("prompt").unwrap_or_default(),
        "n": n, "size": size, "quality": quality});
    if dalle {
        body["response_format"] = json!("b64_json");
    }
    let exchange = http::send(
        call,
        &key,
        Request {
            url: format!("{}/v1/images/generations", http::openai_base(call)),
            route: "POST /v1/images/generations".into(),
            auth_header: "authorization",
            auth_prefix: "Bearer ",
            body: Body::Json(body),
        },
    )
    .await?;
    let answer = exchange.body;
    let images = answer
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| http::bad_answer("the image answer has no data"))?;
    // The price table's key names what was made: the answer's size and quality where the
    // model resolved `auto`, else what was asked.
    let made_size = answer.get("size").and_then(Value::as_str).unwrap_or(size);
    let made_quality = answer
        .get("quality")
        .and_then(Value::as_str)
        .unwrap_or(quality);
    call.usage.push(Usage::new(
        "openai",
        &format!("openai/{model}/{made_size}/{made_quality}"),
        &[("images", images.len() as f64)],
    ));
    let mut artifacts = Vec::new();
    for image in images {
        let bytes = image
            .get("b64_json")
            .and_then(Value::as_str)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .ok_or_else(|| http::bad_answer("an image without b64_json bytes"))?;
        limits.output_bytes(bytes.len() as u64)?;
        let measured = measure::image(&bytes)
            .ok_or_else(|| http::bad_answer("the provider's image is not a PNG, JPEG or WebP"))?;
        let artifact = store::put(
            call,
            &Media {
                provider: "openai",
                model: Some(&model),
                mime_type: measured.mime,
                extension: measured.extension,
                duration_ms: None,
                dimensions: Some((measured.width, measured.height)),
            },
            &bytes,
        )
        .await?;
        let mut described = store::describe(call, &artifact).await?;
        if let Some(revised) = image.get("revised_prompt") {
            described["revised_prompt"] = revised.clone();
        }
        artifacts.push(described);
    }
    Ok(
        json!({"provider": "openai", "model": model, "size": made_size,
        "quality": made_quality, "artifacts": artifacts}),
    )
}

#[cfg(test)]
mod tests {
    use super::pixels;

    #[test]
    fn requested_pixels() {
        assert_eq!(pixels("1792x1024"), Some(1792 * 1024));
        assert_eq!(pixels("auto"), Some(1536 * 1024));
        assert_eq!(pixels("big"), None);
    }
}
