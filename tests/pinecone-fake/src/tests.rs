use serde_json::{json, Value};

use super::*;

const KEY: &str = "pc-test-key";

fn client() -> reqwest::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::new()
}

async fn post(fake: &PineconeFake, key: &str, path: &str, body: Value) -> (u16, Value) {
    let response = client()
        .post(format!("{}{path}", fake.base_url))
        .header("Api-Key", key)
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

fn vector(id: &str, values: [f64; 3], metadata: &Value) -> Value {
    json!({"id": id, "values": values, "metadata": metadata})
}

#[tokio::test]
async fn a_missing_or_wrong_key_is_401_in_the_rpc_envelope() {
    let fake = PineconeFake::start(KEY, 3).await;
    let (status, body) = post(&fake, "nope", "/query", json!({"topK": 1})).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], 16);
    assert!(body["message"].is_string() && body["details"].is_array());
}

#[tokio::test]
async fn upsert_enforces_the_batch_limit_and_the_dimension() {
    let fake = PineconeFake::start(KEY, 3).await;
    let too_many: Vec<Value> = (0..=MAX_UPSERT_VECTORS)
        .map(|i| vector(&format!("v{i}"), [1.0, 0.0, 0.0], &json!({})))
        .collect();
    let (status, body) = post(&fake, KEY, "/vectors/upsert", json!({"vectors": too_many})).await;
    assert_eq!((status, body["code"].clone()), (400, json!(3)));
    let (status, _) = post(
        &fake,
        KEY,
        "/vectors/upsert",
        json!({"vectors": [{"id": "x", "values": [1.0, 2.0]}]}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, body) = post(
        &fake,
        KEY,
        "/vectors/upsert",
        json!({"namespace": "n", "vectors": [vector("a", [1.0, 0.0, 0.0], &json!({}))]}),
    )
    .await;
    assert_eq!((status, body), (200, json!({"upsertedCount": 1})));
    assert!(fake.vectors("").is_empty(), "namespaces are separate");
    assert_eq!(fake.vectors("n").len(), 1);
}

#[tokio::test]
async fn query_ranks_by_cosine_and_filters_on_metadata() {
    let fake = PineconeFake::start(KEY, 3).await;
    let vectors = json!([
        vector("a", [1.0, 0.0, 0.0], &json!({"source": "s1", "n": 1})),
        vector("b", [0.8, 0.6, 0.0], &json!({"source": "s2", "n": 2})),
        vector("c", [0.0, 0.0, 1.0], &json!({"source": "s1", "n": 3})),
    ]);
    post(
        &fake,
        KEY,
        "/vectors/upsert",
        json!({"namespace": "n", "vectors": vectors}),
    )
    .await;
    let (status, body) = post(
        &fake,
        KEY,
        "/query",
        json!({"namespace": "n", "vector": [1.0, 0.1, 0.0], "topK": 2, "includeMetadata": true}),
    )
    .await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = body["matches"]
        .as_array()
        .expect("matches")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, ["a", "b"]);
    let top = body["matches"][0]["score"].as_f64().expect("score");
    assert!((top - 1.0 / 1.01f64.sqrt()).abs() < 1e-9, "{top}");
    assert_eq!(body["matches"][0]["metadata"]["source"], "s1");

    let filtered = |filter: Value| {
        let fake = fake.clone();
        async move {
            let (_, body) = post(
                &fake,
                KEY,
                "/query",
                json!({"namespace": "n", "vector": [1.0, 0.0, 0.0], "topK": 10, "filter": filter}),
            )
            .await;
            body["matches"]
                .as_array()
                .expect("matches")
                .iter()
                .filter_map(|m| m["id"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(filtered(json!({"source": {"$eq": "s1"}})).await, ["a", "c"]);
    assert_eq!(filtered(json!({"source": "s2"})).await, ["b"]);
    assert_eq!(
        filtered(json!({"source": {"$in": ["s2", "zz"]}})).await,
        ["b"]
    );
    assert_eq!(
        filtered(json!({"$and": [{"source": "s1"}, {"n": {"$gte": 2}}]})).await,
        ["c"]
    );
    let (status, _) = post(
        &fake,
        KEY,
        "/query",
        json!({"vector": [1.0, 0.0, 0.0], "topK": 1, "filter": {"source": {"$regex": "x"}}}),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn delete_by_ids_filter_or_all_in_one_namespace() {
    let fake = PineconeFake::start(KEY, 3).await;
    for ns in ["n", "m"] {
        let vectors = json!([
            vector("a", [1.0, 0.0, 0.0], &json!({"source": "s1"})),
            vector("b", [0.0, 1.0, 0.0], &json!({"source": "s2"})),
            vector("c", [0.0, 0.0, 1.0], &json!({"source": "s1"})),
        ]);
        post(
            &fake,
            KEY,
            "/vectors/upsert",
            json!({"namespace": ns, "vectors": vectors}),
        )
        .await;
    }
    let (status, body) = post(
        &fake,
        KEY,
        "/vectors/delete",
        json!({"namespace": "n", "filter": {"source": {"$eq": "s1"}}}),
    )
    .await;
    assert_eq!((status, body), (200, json!({})));
    assert_eq!(fake.vectors("n").keys().collect::<Vec<_>>(), ["b"]);
    assert_eq!(fake.vectors("m").len(), 3, "other namespaces untouched");
    post(
        &fake,
        KEY,
        "/vectors/delete",
        json!({"namespace": "m", "ids": ["a"]}),
    )
    .await;
    assert_eq!(fake.vectors("m").len(), 2);
    post(
        &fake,
        KEY,
        "/vectors/delete",
        json!({"namespace": "m", "deleteAll": true}),
    )
    .await;
    assert!(fake.vectors("m").is_empty());
    let (status, _) = post(&fake, KEY, "/vectors/delete", json!({"namespace": "m"})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn list_pages_through_ids_by_prefix() {
    let fake = PineconeFake::start(KEY, 3).await;
    let vectors: Vec<Value> = (0..150)
        .map(|i| vector(&format!("kb-a-{i:05}"), [1.0, 0.0, 0.0], &json!({})))
        .chain([vector("kb-b-00000", [1.0, 0.0, 0.0], &json!({}))])
        .collect();
    post(
        &fake,
        KEY,
        "/vectors/upsert",
        json!({"namespace": "n", "vectors": vectors}),
    )
    .await;
    let http = client();
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut query = vec![
            ("namespace", "n".to_owned()),
            ("prefix", "kb-a-".to_owned()),
        ];
        if let Some(t) = &token {
            query.push(("paginationToken", t.clone()));
        }
        let body: Value = http
            .get(format!("{}/vectors/list", fake.base_url))
            .header("Api-Key", KEY)
            .query(&query)
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        seen.extend(
            body["vectors"]
                .as_array()
                .expect("vectors")
                .iter()
                .filter_map(|v| v["id"].as_str().map(str::to_owned)),
        );
        token = body
            .pointer("/pagination/next")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 150);
    assert!(seen.iter().all(|id| id.starts_with("kb-a-")));
}
