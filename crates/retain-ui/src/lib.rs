//! retain's dashboard as files: the page shell, its script and style, and ECharts 6.1.0
//! (Apache-2.0, vendored with its licence in `assets/vendor/`), compiled into the binary so that
//! the dashboard and the report need no network. The server serves [`Asset`]s and
//! [`served_page`]; `retain report` writes [`report`]. The page draws the JSON pages of
//! `retain_pipeline::analysis` and knows nothing of statistics.

use base64::Engine;
use sha2::Digest;

/// A file the server serves under `/assets/`.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// The name in the URL; versioned names can be cached forever.
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");
const ECHARTS_JS: &str = include_str!("../assets/vendor/echarts-6.1.0/echarts.min.js");
const SHELL: &str = include_str!("../assets/index.html");

/// The name ECharts is served under (its version in it).
pub const ECHARTS_NAME: &str = "echarts-6.1.0.min.js";

/// The files of the dashboard, and ECharts' licence and notice.
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: APP_JS.as_bytes(),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: APP_CSS.as_bytes(),
    },
    Asset {
        name: ECHARTS_NAME,
        content_type: "text/javascript; charset=utf-8",
        bytes: ECHARTS_JS.as_bytes(),
    },
    Asset {
        name: "LICENSE-echarts.txt",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("../assets/vendor/echarts-6.1.0/LICENSE"),
    },
    Asset {
        name: "NOTICE-echarts.txt",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("../assets/vendor/echarts-6.1.0/NOTICE"),
    },
    Asset {
        name: "LICENSE-d3.txt",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("../assets/vendor/echarts-6.1.0/LICENSE-d3"),
    },
];

/// The asset called `name`.
pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The Content-Security-Policy of the served page: scripts only from the server, no eval, no
/// frames, data fetched from the server only. Styles may be inline: ECharts sets `style`
/// attributes on the elements it draws (tooltips, labels), and a style cannot run code.
pub const SERVED_CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The dashboard page `retain serve` sends at `/`: `auth` says whether it asks for a token.
pub fn served_page(auth: bool) -> String {
    let config = serde_json::json!({"mode": "api", "auth": auth});
    SHELL
        .replace(
            "<!--RETAIN:STYLE-->",
            "<link rel=\"stylesheet\" href=\"/assets/app.css\">",
        )
        .replace(
            "<!--RETAIN:SCRIPTS-->",
            &format!(
                "<script src=\"/assets/{ECHARTS_NAME}\"></script>\n<script src=\"/assets/app.js\"></script>"
            ),
        )
        .replace("<!--RETAIN:DATA-->", &data_block("retain-config", &config))
}

/// The report: one HTML file with the page, its scripts and `data` inside (the embedded form of
/// the dashboard's data: analyses, pages, customers, customer pages). Its own
/// Content-Security-Policy allows only these two scripts (by hash) and no connection at all, so
/// it opens from disk with the network off and cannot reach anything.
pub fn report(data: &serde_json::Value) -> String {
    let config = serde_json::json!({"mode": "embedded"});
    let hash = |script: &str| {
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script.as_bytes()))
    };
    let csp = format!(
        "default-src 'none'; script-src 'sha256-{}' 'sha256-{}'; style-src 'unsafe-inline'; \
         img-src data: blob:; connect-src 'none'; base-uri 'none'; form-action 'none'",
        hash(ECHARTS_JS),
        hash(APP_JS)
    );
    SHELL
        .replace(
            "<meta charset=\"utf-8\">",
            &format!(
                "<meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">"
            ),
        )
        .replace("<!--RETAIN:STYLE-->", &format!("<style>{APP_CSS}</style>"))
        .replace(
            "<!--RETAIN:DATA-->",
            &format!(
                "{}\n{}",
                data_block("retain-config", &config),
                data_block("retain-data", data)
            ),
        )
        // Last: the scripts' text is not searched for the markers above.
        .replace(
            "<!--RETAIN:SCRIPTS-->",
            &format!("<script>{ECHARTS_JS}</script>\n<script>{APP_JS}</script>"),
        )
}

/// JSON in a `<script type="application/json">` block: not run, read with `JSON.parse`. `<`
/// is escaped so that no text in the data can close the block.
fn data_block(id: &str, data: &serde_json::Value) -> String {
    let text = data.to_string().replace('<', "\\u003c");
    format!("<script type=\"application/json\" id=\"{id}\">{text}</script>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cannot_close_its_block() {
        let page = report(&serde_json::json!({"name": "</script><script>alert(1)</script>"}));
        assert_eq!(page.matches("</script>").count(), 4);
        assert!(page.contains("\\u003c/script>\\u003cscript>"));
    }

    #[test]
    fn the_reports_policy_names_its_two_scripts() {
        let page = report(&serde_json::json!({}));
        assert_eq!(page.matches("'sha256-").count(), 2);
        assert!(page.contains("connect-src 'none'"));
        assert!(!page.contains("<!--RETAIN:"));
    }

    #[test]
    fn the_served_page_loads_its_scripts_from_the_server() {
        let page = served_page(true);
        assert!(page.contains("src=\"/assets/echarts-6.1.0.min.js\""));
        assert!(page.contains(r#"{"auth":true,"mode":"api"}"#));
        for asset in ASSETS {
            assert!(!asset.bytes.is_empty(), "{}", asset.name);
        }
    }
}
