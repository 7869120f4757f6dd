//! What the route annotations cannot say one operation at a time, said once for the whole
//! document: the answers every secured operation or JSON body can get (they come from shared
//! extractors and middleware, not from the handlers), unique operation ids, named variants
//! of tagged unions, and references instead of inline copies of named schemas.
//!
//! It works on the document as JSON after utoipa has collected it, so it sees every path.

use serde_json::{Map, Value, json};

/// Refines a collected document; see the module's description.
pub fn refine(mut doc: Value) -> Value {
    name_tagged_unions(&mut doc);
    reference_named_schemas(&mut doc);
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, operation) in item.iter_mut() {
                let Some(operation) = operation.as_object_mut() else {
                    continue;
                };
                refine_operation(operation);
                describe_access(operation, &method.to_uppercase(), path);
            }
        }
    }
    doc["servers"] = json!([{
        "url": "/",
        "description": "The server that serves this document"
    }]);
    doc
}

/// Says who may call the operation (see [`crate::auth::access`]), at the end of its
/// description and as `x-access`: the least role of a team member (`null`: no member) and
/// the scope an API key needs (`null`: no key; `*`: any key of the merchant).
fn describe_access(operation: &mut Map<String, Value>, method: &str, path: &str) {
    use crate::auth::access::{RULES, Rule};
    let Some((_, _, rule)) = RULES.iter().find(|(m, p, _)| *m == method && *p == path) else {
        return;
    };
    let line = rule.describe();
    let description = match operation.get("description").and_then(Value::as_str) {
        Some(text) if !text.is_empty() => format!("{text}\n\n{line}"),
        _ => line,
    };
    operation.insert("description".to_owned(), Value::String(description));
    let (role, key) = match rule {
        Rule::Public | Rule::Token => return,
        Rule::Members(role) => (Some(role.as_str()), None),
        Rule::Callers(role, None) => (Some(role.as_str()), Some("*")),
        Rule::Callers(role, Some(scope)) => (Some(role.as_str()), Some(scope.as_str())),
    };
    operation.insert(
        "x-access".to_owned(),
        json!({ "least_role": role, "api_key_scope": key }),
    );
}

/// Operation ids are `{tag}_{handler}`, e.g. `customers_list`: unique, since each tag is one
/// module of handlers, and named after the resource, as client generators expect.
fn operation_id(operation: &Map<String, Value>) -> Option<String> {
    let tag = operation.get("tags")?.get(0)?.as_str()?;
    let id = operation.get("operationId")?.as_str()?;
    let tag = tag.replace('-', "_");
    Some(if id.starts_with(&format!("{tag}_")) {
        id.to_owned()
    } else {
        format!("{tag}_{id}")
    })
}

fn problem_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {
            "application/problem+json": {
                "schema": { "$ref": "#/components/schemas/Problem" }
            }
        }
    })
}

/// What each status means when an operation does not say more.
fn standard_description(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "204" => "Done; no content",
        "304" => "Not modified since the time given",
        "400" => {
            "The request could not be read: malformed JSON, query or header, a value of the wrong type or out of range, or an unknown field"
        }
        "401" => "No valid credentials: send a session token or an API key",
        "402" => "Not enough credits",
        "403" => "The caller's role (or API key) may not do this",
        "404" => "No such resource (another merchant's resource is a 404 too)",
        "409" => "The resource's current state does not allow this",
        "413" => "The body is larger than the limit",
        "415" => "The body's media type is not the one this operation reads",
        "422" => "Some fields are invalid: `errors` names each field, with a code and a message",
        "429" => "Too many requests: retry after the number of seconds in `Retry-After`",
        "500" => "Something went wrong on our side; it has been logged",
        "503" => "Not ready: the database does not answer or migrations are pending",
        _ => "See the description of the operation",
    }
}

fn refine_operation(operation: &mut Map<String, Value>) {
    if let Some(id) = operation_id(operation) {
        operation.insert("operationId".to_owned(), Value::String(id));
    }
    optional_body(operation);
    // Operations for merchants' credentials (not the operator's token, which has its own
    // scheme) take either of them.
    let secured = operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
    if secured {
        // Every secured operation takes either credential.
        operation.insert(
            "security".to_owned(),
            json!([{ "bearer": [] }, { "api_key": [] }]),
        );
    }
    let has_body = operation.contains_key("requestBody");
    let has_query = operation
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query" || p["in"] == "header"));
    let idempotent = describe_parameters(operation);

    let responses = operation
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    let Some(responses) = responses else { return };
    let mut add = |status: &str| {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| problem_response(standard_description(status)));
    };
    if secured {
        add("401");
        add("403");
        add("429");
    }
    if has_body || has_query {
        add("400");
    }
    if has_body {
        add("413");
        add("415");
    }
    add("500");

    for (status, response) in responses.iter_mut() {
        let Some(response) = response.as_object_mut() else {
            continue;
        };
        let described = response
            .get("description")
            .and_then(Value::as_str)
            .is_some_and(|d| !d.is_empty());
        if !described {
            response.insert(
                "description".to_owned(),
                Value::String(standard_description(status).to_owned()),
            );
        }
        let headers = response
            .entry("headers")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        let Some(headers) = headers else { continue };
        if status == "429" {
            headers.insert(
                "Retry-After".to_owned(),
                json!({
                    "description": "Seconds to wait before trying again",
                    "schema": { "type": "integer", "minimum": 0 }
                }),
            );
        }
        if idempotent && status.starts_with('2') {
            headers.insert(
                "Idempotent-Replayed".to_owned(),
                json!({
                    "description": "`true` when this is the saved answer to an earlier request with the same `Idempotency-Key`",
                    "schema": { "type": "string", "enum": ["true"] }
                }),
            );
        }
        if headers.is_empty() {
            response.remove("headers");
        }
    }
}

/// utoipa writes an `Option<T>` body as a required body of `T` or `null`; what the handler
/// means is a body that may be left out, and one that is sent is a `T`.
fn optional_body(operation: &mut Map<String, Value>) {
    let Some(body) = operation
        .get_mut("requestBody")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let mut optional = false;
    if let Some(content) = body.get_mut("content").and_then(Value::as_object_mut) {
        for media in content.values_mut() {
            let Some(variants) = media.pointer("/schema/oneOf").and_then(Value::as_array) else {
                continue;
            };
            if let [first, second] = variants.as_slice() {
                let inner = match (first.get("type"), second.get("type")) {
                    (Some(t), _) if t == "null" => second.clone(),
                    (_, Some(t)) if t == "null" => first.clone(),
                    _ => continue,
                };
                media["schema"] = inner;
                optional = true;
            }
        }
    }
    if optional {
        body.insert("required".to_owned(), Value::Bool(false));
    }
}

/// Gives the shared header parameters their one full description; returns whether the
/// operation takes an `Idempotency-Key`.
fn describe_parameters(operation: &mut Map<String, Value>) -> bool {
    let mut idempotent = false;
    let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    else {
        return false;
    };
    for parameter in parameters.iter_mut() {
        if parameter["in"] == "header" && parameter["name"] == crate::idempotency::HEADER {
            idempotent = true;
            *parameter = json!({
                "name": crate::idempotency::HEADER,
                "in": "header",
                "required": false,
                "description": "Makes the request safe to retry. The first request with a key does its work and saves its answer in the same transaction; a repeat with the same key and the same body gets the saved answer (with `Idempotent-Replayed: true`) and does nothing again; the same key with another body is a 422. Keys are scoped to the merchant and kept for 24 hours. 1 to 255 visible ASCII characters; a UUID is a good choice.",
                "schema": { "type": "string", "pattern": loyalcast_dto::text::IDEMPOTENCY_KEY },
                "example": "3f0c9a52-6a1e-4a34-9d0e-2b8f1f6b7c11"
            });
        }
    }
    idempotent
}

/// Internally tagged enums (`{"type": "visits", ...}`) come out of utoipa as a `oneOf` of
/// unnamed objects, which client generators cannot name. Each variant becomes a component
/// of its own (`SegmentRuleVisits`), and the union gets a discriminator on `type`.
fn name_tagged_unions(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let mut named = Vec::new();
    for (name, schema) in schemas.iter_mut() {
        let Some(variants) = schema.get_mut("oneOf").and_then(Value::as_array_mut) else {
            continue;
        };
        let tags: Option<Vec<String>> = variants.iter().map(variant_tag).collect();
        let Some(tags) = tags else { continue };
        let mut mapping = Map::new();
        for (variant, tag) in variants.iter_mut().zip(tags) {
            let component = format!("{name}{}", pascal(&tag));
            let reference = format!("#/components/schemas/{component}");
            let mut body = std::mem::replace(variant, json!({ "$ref": reference }));
            // The unions' readers refuse a field a variant does not have
            // (`loyalcast_dto::wire::tagged`); utoipa does not say so for variants.
            body["additionalProperties"] = Value::Bool(false);
            mapping.insert(tag, Value::String(reference));
            named.push((component, body));
        }
        schema["discriminator"] = json!({ "propertyName": "type", "mapping": mapping });
    }
    for (component, body) in named {
        schemas.insert(component, body);
    }
}

/// The single value of an inline variant's `type` property, if it is one.
fn variant_tag(variant: &Value) -> Option<String> {
    if variant.get("$ref").is_some() {
        return None;
    }
    let values = variant.pointer("/properties/type/enum")?.as_array()?;
    match values.as_slice() {
        [Value::String(tag)] => Some(tag.clone()),
        _ => None,
    }
}

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// utoipa inlines a generic's argument (`Page<Card>` holds a copy of `Card`); a copy that
/// equals a named schema becomes a reference to it, so clients get one `Card` type.
fn reference_named_schemas(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    else {
        return;
    };
    let named: Vec<(String, Value)> = schemas
        .iter()
        .filter(|(_, schema)| schema.get("properties").is_some() || schema.get("oneOf").is_some())
        .map(|(name, schema)| (format!("#/components/schemas/{name}"), schema.clone()))
        .collect();
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for schema in schemas.values_mut() {
        for child in children_mut(schema) {
            replace_copies(child, &named);
        }
    }
    if let Some(paths) = doc.get_mut("paths") {
        replace_copies(paths, &named);
    }
}

/// The sub-schemas of a schema (not the schema itself, which is its own name).
fn children_mut(schema: &mut Value) -> Vec<&mut Value> {
    match schema {
        Value::Object(map) => map.values_mut().collect(),
        Value::Array(items) => items.iter_mut().collect(),
        _ => Vec::new(),
    }
}

fn replace_copies(value: &mut Value, named: &[(String, Value)]) {
    if let Some((reference, _)) = named.iter().find(|(_, schema)| schema == value) {
        *value = json!({ "$ref": reference });
        return;
    }
    for child in children_mut(value) {
        replace_copies(child, named);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_union_variants_become_named_components_with_a_discriminator() {
        let doc = refine(json!({
            "paths": {},
            "components": { "schemas": { "Audience": { "oneOf": [
                { "type": "object", "properties": { "type": { "type": "string", "enum": ["all"] } } },
                { "type": "object", "properties": { "type": { "type": "string", "enum": ["segment"] }, "segment_id": { "type": "string" } } }
            ] } } }
        }));
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["Audience"]["oneOf"][1]["$ref"],
            "#/components/schemas/AudienceSegment"
        );
        assert_eq!(
            schemas["Audience"]["discriminator"]["mapping"]["all"],
            "#/components/schemas/AudienceAll"
        );
        assert!(schemas["AudienceSegment"]["properties"]["segment_id"].is_object());
    }

    #[test]
    fn an_inline_copy_of_a_named_schema_becomes_a_reference() {
        let card = json!({ "type": "object", "properties": { "id": { "type": "string" } } });
        let doc = refine(json!({
            "paths": {},
            "components": { "schemas": {
                "Card": card,
                "Page_Card": { "type": "object", "properties": { "items": { "type": "array", "items": card } } }
            } }
        }));
        assert_eq!(
            doc["components"]["schemas"]["Page_Card"]["properties"]["items"]["items"]["$ref"],
            "#/components/schemas/Card"
        );
        assert_eq!(doc["components"]["schemas"]["Card"], card);
    }

    #[test]
    fn secured_operations_with_a_body_get_the_shared_answers() {
        let doc = refine(json!({
            "paths": { "/api/v1/cards": { "post": {
                "tags": ["cards"],
                "operationId": "create",
                "requestBody": { "content": { "application/json": { "schema": {} } } },
                "parameters": [{ "name": "Idempotency-Key", "in": "header", "required": false, "schema": { "type": "string" } }],
                "responses": { "201": { "description": "" } },
                "security": [{ "bearer": [] }]
            } } }
        }));
        let operation = &doc["paths"]["/api/v1/cards"]["post"];
        assert_eq!(operation["operationId"], "cards_create");
        for status in ["400", "401", "403", "413", "415", "429", "500"] {
            assert_eq!(
                operation["responses"][status]["content"]["application/problem+json"]["schema"]["$ref"],
                "#/components/schemas/Problem",
                "{status}"
            );
        }
        assert_eq!(operation["responses"]["201"]["description"], "Created");
        assert!(operation["responses"]["201"]["headers"]["Idempotent-Replayed"].is_object());
        assert!(operation["responses"]["429"]["headers"]["Retry-After"].is_object());
        assert_eq!(operation["security"][1]["api_key"], json!([]));
    }
}
