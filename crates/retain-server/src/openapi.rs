//! The OpenAPI document, generated from the handlers. Each handler declares what is its own
//! (its success, the 404 and 422 it can send); the answers every operation of a kind can get
//! are added here once: 401 and 403 where a token is needed, 400 where a parameter is read,
//! 400, 408, 413, 415 and 422 where a JSON body is read, 503 everywhere (store unavailable, an
//! answer too slow, too many connections), each with the error body and `Retry-After` on 503.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{Ref, Type};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, RefOr};
use utoipa::OpenApi;

use crate::api;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "retain",
        description = "Customer retention and lifetime value: predictions with reasons from \
                       registered models, the model registry, batch scoring and stored \
                       predictions. Send `Authorization: Bearer TOKEN` (`retain token create`). \
                       Every error is `{\"error\": {\"status\", \"message\", \"field\"?, \
                       \"model\"?, \"version\"?}}`."
    ),
    paths(
        api::predict,
        api::list_models,
        api::show_model,
        api::show_version,
        api::move_alias,
        api::start_batch_job,
        api::batch_job,
        api::cancel_batch_job,
        api::list_batch_jobs,
        api::list_runs,
        api::run_predictions,
        api::customer_predictions,
        crate::monitoring::list_pipeline_runs,
        crate::monitoring::pipeline_run,
        crate::monitoring::model_drift,
        crate::monitoring::model_performance,
        crate::monitoring::model_decisions,
        crate::dashboard::index,
        crate::dashboard::asset,
        crate::dashboard::list_analyses,
        crate::dashboard::analysis_page,
        crate::dashboard::analysis_customers,
        crate::dashboard::analysis_customer,
        crate::healthz,
        crate::metrics_text,
        crate::openapi,
    ),
    modifiers(&BearerAuth, &CommonResponses, &OneSourceOfCustomers, &ParameterPatterns)
)]
struct ApiDoc;

/// What a model name and an alias look like (`retain_store`'s rule for names).
const NAME_PATTERN: &str = "^[A-Za-z][A-Za-z0-9_.-]{0,63}$";
/// Any other text parameter: anything but NUL (which no id holds; refused with 400).
const TEXT_PATTERN: &str = "^[^\\u0000]*$";

/// The patterns text parameters follow, declared once for every operation.
struct ParameterPatterns;

impl utoipa::Modify for ParameterPatterns {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{Schema, SchemaType};
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.get, &mut item.post, &mut item.delete]
                .into_iter()
                .flatten()
            {
                for parameter in operation.parameters.iter_mut().flatten() {
                    let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut() else {
                        continue;
                    };
                    if schema.schema_type != SchemaType::Type(Type::String) {
                        continue;
                    }
                    let pattern = match parameter.name.as_str() {
                        "name" | "alias" => NAME_PATTERN,
                        _ => TEXT_PATTERN,
                    };
                    schema.pattern = Some(pattern.to_string());
                }
            }
        }
    }
}

/// A batch job takes its customers from the request or from a file, exactly one of them.
struct OneSourceOfCustomers;

impl utoipa::Modify for OneSourceOfCustomers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{AllOfBuilder, OneOfBuilder, Schema};
        let Some(schemas) = openapi.components.as_mut().map(|c| &mut c.schemas) else {
            return;
        };
        let Some(request) = schemas.remove("BatchJobRequest") else {
            return;
        };
        let one_of = OneOfBuilder::new()
            .item(ObjectBuilder::new().required("customers").property(
                "customers",
                utoipa::openapi::schema::ArrayBuilder::new().min_items(Some(1)),
            ))
            .item(
                ObjectBuilder::new().required("customers_file").property(
                    "customers_file",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .min_length(Some(1)),
                ),
            );
        schemas.insert(
            "BatchJobRequest".to_string(),
            RefOr::T(Schema::AllOf(
                AllOfBuilder::new().item(request).item(one_of).build(),
            )),
        );
    }
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

struct CommonResponses;

fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    )
}

/// Adds `status` to `operation` unless the handler declared it with its own description.
fn add(operation: &mut Operation, status: u16, response: ResponseBuilder) {
    operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert(RefOr::T(response.build()));
}

impl utoipa::Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.get, &mut item.post, &mut item.delete]
                .into_iter()
                .flatten()
            {
                if operation.security.is_some() {
                    add(
                        operation,
                        401,
                        error_response("No token, an unknown token or another scheme than Bearer")
                            .header(
                                "WWW-Authenticate",
                                HeaderBuilder::new()
                                    .schema(ObjectBuilder::new().schema_type(Type::String))
                                    .build(),
                            ),
                    );
                    add(
                        operation,
                        403,
                        error_response("The token's scope does not allow this"),
                    );
                }
                if operation.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                    add(
                        operation,
                        400,
                        error_response("A path or query parameter that does not read"),
                    );
                }
                if operation.request_body.is_some() {
                    add(
                        operation,
                        400,
                        error_response("Malformed JSON (line and column named)"),
                    );
                    add(
                        operation,
                        408,
                        error_response("The body did not arrive in time"),
                    );
                    add(
                        operation,
                        413,
                        error_response("The body is larger than the server takes"),
                    );
                    add(
                        operation,
                        415,
                        error_response("The body is not sent as application/json"),
                    );
                    add(
                        operation,
                        422,
                        error_response("JSON of the wrong shape (the field named)"),
                    );
                }
                add(
                    operation,
                    503,
                    error_response(
                        "The store does not answer, the answer took too long, or the server \
                         is full; try again after Retry-After seconds",
                    )
                    .header(
                        "Retry-After",
                        HeaderBuilder::new()
                            .schema(ObjectBuilder::new().schema_type(Type::Integer))
                            .build(),
                    ),
                );
            }
        }
    }
}

/// The OpenAPI document of the API.
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the document serializes")
}
