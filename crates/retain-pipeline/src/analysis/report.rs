//! What `retain report` puts in its one HTML file: the newest analysis of each name, every
//! page, the customers with the most value at risk (the at-risk page filters and exports them
//! in the browser) and the customer pages of the first of them.

use retain_store::{CustomerQuery, Store};
use serde_json::{json, Map, Value};

use super::{customer_page, models_page, CustomerModel};
use crate::error::invalid;
use crate::Result;

/// How much of the store a report holds.
#[derive(Debug, Clone, Copy)]
pub struct ReportOptions {
    /// Analyses, newest first, one per name.
    pub analyses: usize,
    /// Customers of the at-risk table per analysis, by value at risk.
    pub customers: i64,
    /// Customer pages per analysis, the first of those customers.
    pub customer_pages: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            analyses: 5,
            customers: 2_000,
            customer_pages: 50,
        }
    }
}

fn store_error(e: retain_store::StoreError) -> crate::PipelineError {
    invalid!("reading the store: {e}")
}

/// The report's data (the dashboard's embedded form); an error when the store holds no
/// analysis.
pub async fn report_data(store: &Store, options: &ReportOptions) -> Result<Value> {
    let mut names = Vec::new();
    let mut chosen = Vec::new();
    for a in store.analyses().await.map_err(store_error)? {
        if !names.contains(&a.name) && chosen.len() < options.analyses {
            names.push(a.name.clone());
            chosen.push(a);
        }
    }
    if chosen.is_empty() {
        return Err(invalid!(
            "the store holds no analysis: `retain analyze -t LOG --store URL` (or `retain demo`) stores one"
        ));
    }
    let models = serde_json::to_value(models_page(
        &store.all_versions().await.map_err(store_error)?,
    ))
    .expect("pages serialize");
    let (runs, records) = super::production_records(store).await?;
    let production =
        serde_json::to_value(super::production_page(&runs, &records)).expect("pages serialize");
    let (mut pages, mut customers, mut customer_pages) = (Map::new(), Map::new(), Map::new());
    for a in &mut chosen {
        let mut these = Map::new();
        for page in &a.pages {
            let body = store
                .analysis_page(&a.analysis_id, page)
                .await
                .map_err(store_error)?;
            these.insert(
                page.clone(),
                serde_json::from_str(&body).map_err(|e| invalid!("a stored page: {e}"))?,
            );
        }
        these.insert("models".into(), models.clone());
        a.pages.push("models".into());
        these.insert("production".into(), production.clone());
        a.pages.push("production".into());
        pages.insert(a.analysis_id.clone(), Value::Object(these));
        let query = CustomerQuery {
            limit: options.customers,
            ..CustomerQuery::default()
        };
        let (total, rows) = store
            .analysis_customers(&a.analysis_id, &query)
            .await
            .map_err(store_error)?;
        let model: CustomerModel = serde_json::from_value(
            store
                .analysis_model(&a.analysis_id)
                .await
                .map_err(store_error)?,
        )
        .map_err(|e| invalid!("the analysis's model: {e}"))?;
        let mut these = Map::new();
        for row in rows.iter().take(options.customer_pages) {
            let stored = store
                .analysis_customer(&a.analysis_id, &row.customer_id)
                .await
                .map_err(store_error)?;
            let across = store
                .customer_across_analyses(&a.name, &row.customer_id)
                .await
                .map_err(store_error)?;
            these.insert(
                row.customer_id.clone(),
                serde_json::to_value(customer_page(a, &model, &stored, &across)?)
                    .expect("pages serialize"),
            );
        }
        customer_pages.insert(a.analysis_id.clone(), Value::Object(these));
        customers.insert(a.analysis_id.clone(), json!({"total": total, "rows": rows}));
    }
    Ok(json!({
        "analyses": chosen,
        "pages": pages,
        "customers": customers,
        "customer_pages": customer_pages,
    }))
}
