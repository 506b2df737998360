//! Prints the API's OpenAPI document (what `/api/openapi.json` serves), from which the web
//! app's types are generated: `scripts/gen-api-types.sh`.

fn main() {
    println!("{}", porchlight_api::openapi_json());
}
