//! The paths of the OpenAPI document as templates (`/api/v1/cards/{id}`): which documented
//! operation a request is for, and which methods a documented path allows.

use std::collections::HashSet;

/// The methods each documented path answers, to tell a request with an undocumented method
/// on a known path (405 with `Allow`) from a request for an unknown path (404), and to name
/// the operation a request is for (its access rule).
#[derive(Debug, Clone, Default)]
pub struct Methods {
    paths: Vec<(String, Vec<Segment>, Vec<String>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Parameter,
}

/// The methods of a path item, upper case.
fn methods_of(item: &utoipa::openapi::PathItem) -> Vec<String> {
    serde_json::to_value(item)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|(key, _)| {
            matches!(
                key.as_str(),
                "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace"
            )
        })
        .map(|(key, _)| key.to_uppercase())
        .collect()
}

/// Every operation of the document, as (method, path template).
pub fn operations(doc: &utoipa::openapi::OpenApi) -> HashSet<(String, String)> {
    doc.paths
        .paths
        .iter()
        .flat_map(|(path, item)| {
            methods_of(item)
                .into_iter()
                .map(move |method| (method, path.clone()))
        })
        .collect()
}

impl Methods {
    pub fn of(doc: &utoipa::openapi::OpenApi) -> Self {
        let paths = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let template = path
                    .trim_start_matches('/')
                    .split('/')
                    .map(|segment| {
                        if segment.starts_with('{') && segment.ends_with('}') {
                            Segment::Parameter
                        } else {
                            Segment::Literal(segment.to_owned())
                        }
                    })
                    .collect();
                (path.clone(), template, methods_of(item))
            })
            .collect();
        Methods { paths }
    }

    /// The documented path that `path` is an instance of, with its methods. As OpenAPI has
    /// it, a concrete path is matched before a templated one (`/segments/count` before
    /// `/segments/{id}`).
    fn matching(&self, path: &str) -> Option<(&str, &[String])> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let fitting = self.paths.iter().filter(|(_, template, _)| {
            template.len() == segments.len()
                && template.iter().zip(&segments).all(|(t, s)| match t {
                    Segment::Literal(l) => l == s,
                    Segment::Parameter => !s.is_empty(),
                })
        });
        // Literal segments earlier in the path win: compare their positions in order.
        let specificity = |template: &[Segment]| -> Vec<bool> {
            template
                .iter()
                .map(|t| matches!(t, Segment::Literal(_)))
                .collect()
        };
        let (name, _, methods) = fitting.max_by_key(|(_, template, _)| specificity(template))?;
        Some((name.as_str(), methods.as_slice()))
    }

    /// `None` when the path is not documented or its template allows the method; otherwise
    /// the methods it allows, for `Allow`.
    pub fn refuses(&self, method: &str, path: &str) -> Option<Vec<String>> {
        let (_, methods) = self.matching(path)?;
        if methods.iter().any(|m| m == method) {
            return None;
        }
        let mut allowed = methods.to_vec();
        allowed.sort();
        Some(allowed)
    }

    /// The path template of the documented operation a request is for; `None` when the
    /// document has no such operation.
    pub fn route(&self, method: &str, path: &str) -> Option<&str> {
        let (name, methods) = self.matching(path)?;
        methods.iter().any(|m| m == method).then_some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_undocumented_method_on_a_documented_path_is_refused_with_what_it_allows() {
        let methods = Methods::of(&crate::openapi::document().unwrap_or_default());
        assert_eq!(
            methods.refuses("TRACE", "/api/v1/cards"),
            Some(vec!["GET".to_owned(), "POST".to_owned()])
        );
        assert_eq!(methods.refuses("GET", "/api/v1/cards"), None);
        assert_eq!(
            methods.refuses("PATCH", "/api/v1/cards/0192"),
            Some(vec![
                "DELETE".to_owned(),
                "GET".to_owned(),
                "PUT".to_owned()
            ])
        );
        // The concrete `/segments/count` (POST) wins over `/segments/{id}` (GET, PUT, DELETE).
        assert_eq!(
            methods.refuses("GET", "/api/v1/segments/count"),
            Some(vec!["POST".to_owned()])
        );
        assert_eq!(methods.refuses("POST", "/api/v1/segments/count"), None);
        assert_eq!(methods.refuses("GET", "/api/v1/segments/0192"), None);
        assert_eq!(methods.refuses("GET", "/api/v1/nothing"), None);
        assert_eq!(methods.refuses("DELETE", "/"), None);
        assert_eq!(
            methods.route("POST", "/api/v1/segments/count"),
            Some("/api/v1/segments/count")
        );
        assert_eq!(
            methods.route("GET", "/api/v1/segments/0192/count"),
            Some("/api/v1/segments/{id}/count")
        );
        assert_eq!(methods.route("GET", "/api/v1/segments/count"), None);
    }
}
