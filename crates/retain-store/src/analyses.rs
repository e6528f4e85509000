//! Analyses: what the dashboard and the report show, stored whole when a pipeline runs. An
//! analysis has its pages (JSON computed once, when it is stored: opening a page reads a row and
//! never fits a model), every customer's values with their reasons and purchases (the at-risk
//! table and the customer page), and the model the customer page recomputes P(alive) over time
//! with. Pages, customers and the analysis row go in one transaction, the analysis row last:
//! readers go through it, so an analysis cut off half-way is never seen.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

use crate::{get, now, random_hex, Result, Store, StoreError};

/// A stored analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnalysisInfo {
    pub analysis_id: String,
    /// What the analysis is of (the demo's "CDNOW sample", a user's name for their log):
    /// analyses of the same name are compared run to run.
    pub name: String,
    /// The input files.
    pub source: String,
    /// The day the customers are seen at (YYYY-MM-DD).
    pub as_of: String,
    pub customers: i64,
    /// The pages this analysis has, in the dashboard's order.
    pub pages: Vec<String>,
    pub created_at: String,
}

/// One customer of an analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnalysisCustomer {
    pub customer_id: String,
    pub segment: String,
    pub stage: String,
    /// 1 − P(alive), or a churn model's probability.
    pub churn_risk: f64,
    pub p_alive: Option<f64>,
    /// Purchases expected over the CLV horizon.
    pub expected_purchases: Option<f64>,
    pub clv: Option<f64>,
    /// What the customer has spent.
    pub historic_value: f64,
    /// churn_risk × historic_value: what leaves if they do.
    pub value_at_risk: f64,
    /// The median day of the next purchase of a customer still alive (YYYY-MM-DD); none when
    /// P(alive) < 0.5.
    pub next_purchase: Option<String>,
    /// What moved the churn risk, largest first: `[{"feature","value","contribution"}]`.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub reasons: serde_json::Value,
}

/// A customer's row with what only the customer page reads.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCustomer {
    pub customer: AnalysisCustomer,
    /// The purchases (JSON, as the analysis wrote them).
    pub purchases: serde_json::Value,
}

/// An analysis about to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAnalysis {
    /// The id to write it under; `None` draws a random one. Writing an id that is already
    /// stored finds that analysis instead (a pipeline run that resumes writes it once).
    pub analysis_id: Option<String>,
    pub name: String,
    pub source: String,
    pub as_of: String,
    /// `(page, JSON)` in the dashboard's order.
    pub pages: Vec<(String, String)>,
    /// What the customer page needs besides the customer (the purchase model), JSON.
    pub model: serde_json::Value,
    /// The headline numbers the next analysis of the same name compares with, JSON.
    pub kpis: serde_json::Value,
}

/// The order of the customers table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CustomerSort {
    #[default]
    ValueAtRisk,
    ChurnRisk,
    Clv,
    HistoricValue,
    PAlive,
    CustomerId,
}

impl CustomerSort {
    fn column(self) -> &'static str {
        match self {
            CustomerSort::ValueAtRisk => "value_at_risk",
            CustomerSort::ChurnRisk => "churn_risk",
            CustomerSort::Clv => "clv",
            CustomerSort::HistoricValue => "historic_value",
            CustomerSort::PAlive => "p_alive",
            CustomerSort::CustomerId => "customer_id",
        }
    }

    fn nullable(self) -> bool {
        matches!(self, CustomerSort::Clv | CustomerSort::PAlive)
    }
}

/// Which customers, in which order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomerQuery {
    pub segment: Option<String>,
    pub stage: Option<String>,
    pub min_churn_risk: Option<f64>,
    pub min_value: Option<f64>,
    pub sort: CustomerSort,
    pub ascending: bool,
    pub limit: i64,
    pub offset: i64,
    /// Only the customers after this one in the order (keyset paging: a long download reads
    /// each row once, where an offset reads every row before it again).
    pub after: Option<Cursor>,
}

/// A customer's place in an order: the sort column's value (`None` for NULL) and the id.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub value: Option<f64>,
    pub customer_id: String,
}

impl CustomerQuery {
    /// The cursor of `customer` in this query's order.
    pub fn cursor_of(&self, customer: &AnalysisCustomer) -> Cursor {
        Cursor {
            value: match self.sort {
                CustomerSort::ValueAtRisk => Some(customer.value_at_risk),
                CustomerSort::ChurnRisk => Some(customer.churn_risk),
                CustomerSort::Clv => customer.clv,
                CustomerSort::HistoricValue => Some(customer.historic_value),
                CustomerSort::PAlive => customer.p_alive,
                CustomerSort::CustomerId => None,
            },
            customer_id: customer.customer_id.clone(),
        }
    }
}

/// Rows per INSERT. sqlx's SQLite driver looks each `$N` up among all of a statement's
/// parameters, so a statement's cost grows with the square of its parameters: 32 rows of 13
/// write a million customers in seconds where 1,000 rows took minutes.
const ROWS_PER_INSERT: usize = 32;

const CUSTOMER_COLUMNS: &str = "customer_id, segment, stage, churn_risk, p_alive, \
     expected_purchases, clv, historic_value, value_at_risk, next_purchase, reasons";

impl Store {
    /// Writes an analysis with its pages and customers (one transaction, the analysis row
    /// last) and returns it.
    pub async fn write_analysis(
        &self,
        analysis: &NewAnalysis,
        customers: &[StoredCustomer],
    ) -> Result<AnalysisInfo> {
        let mut seen = std::collections::HashSet::with_capacity(customers.len());
        if let Some(twice) = customers
            .iter()
            .find(|c| !seen.insert(&c.customer.customer_id))
        {
            return Err(StoreError::Invalid(format!(
                "customer {} appears twice in the analysis",
                twice.customer.customer_id
            )));
        }
        if let Some(id) = &analysis.analysis_id {
            if let Ok(stored) = self.analysis(id).await {
                return Ok(stored);
            }
        }
        let analysis_id = analysis
            .analysis_id
            .clone()
            .unwrap_or_else(|| random_hex(10));
        let mut tx = self.write_transaction().await?;
        for (page, body) in &analysis.pages {
            sqlx::query("INSERT INTO analysis_pages (analysis_id, page, body) VALUES ($1, $2, $3)")
                .bind(&analysis_id)
                .bind(page)
                .bind(body)
                .execute(&mut *tx)
                .await?;
        }
        for chunk in customers.chunks(ROWS_PER_INSERT) {
            let mut sql = format!("INSERT INTO analysis_customers (analysis_id, {CUSTOMER_COLUMNS}, purchases) VALUES ");
            for i in 0..chunk.len() {
                let p = i * 13;
                if i > 0 {
                    sql.push(',');
                }
                // A NULL number needs its type named: sqlx's Any driver gives a NULL another
                // type than a number, which PostgreSQL would read as binary data of that type.
                let marks: Vec<String> = (1..=13)
                    .map(|k| match k {
                        6..=8 => format!("CAST(${} AS DOUBLE PRECISION)", p + k),
                        _ => format!("${}", p + k),
                    })
                    .collect();
                sql.push_str(&format!("({})", marks.join(", ")));
            }
            // Not prepared once for all chunks: PostgreSQL would keep the parameter types of the
            // first chunk's values, and a number where that chunk had a NULL would not read.
            let mut query = sqlx::query(&sql).persistent(false);
            for stored in chunk {
                let c = &stored.customer;
                query = query
                    .bind(analysis_id.clone())
                    .bind(c.customer_id.clone())
                    .bind(c.segment.clone())
                    .bind(c.stage.clone())
                    .bind(c.churn_risk)
                    .bind(c.p_alive)
                    .bind(c.expected_purchases)
                    .bind(c.clv)
                    .bind(c.historic_value)
                    .bind(c.value_at_risk)
                    .bind(c.next_purchase.clone())
                    .bind(c.reasons.to_string())
                    .bind(stored.purchases.to_string());
            }
            query.execute(&mut *tx).await?;
        }
        let created_at = now();
        let pages: Vec<&str> = analysis.pages.iter().map(|(p, _)| p.as_str()).collect();
        sqlx::query(
            "INSERT INTO analyses (analysis_id, name, source, as_of, customers, pages, model, kpis, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&analysis_id)
        .bind(&analysis.name)
        .bind(&analysis.source)
        .bind(&analysis.as_of)
        .bind(customers.len() as i64)
        .bind(serde_json::json!(pages).to_string())
        .bind(analysis.model.to_string())
        .bind(analysis.kpis.to_string())
        .bind(&created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AnalysisInfo {
            analysis_id,
            name: analysis.name.clone(),
            source: analysis.source.clone(),
            as_of: analysis.as_of.clone(),
            customers: customers.len() as i64,
            pages: pages.iter().map(|p| p.to_string()).collect(),
            created_at,
        })
    }

    /// Every analysis, newest first.
    pub async fn analyses(&self) -> Result<Vec<AnalysisInfo>> {
        let rows = sqlx::query(
            "SELECT analysis_id, name, source, as_of, customers, pages, created_at
             FROM analyses ORDER BY created_at DESC, analysis_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(analysis_of).collect()
    }

    /// One analysis.
    pub async fn analysis(&self, analysis_id: &str) -> Result<AnalysisInfo> {
        let row = sqlx::query(
            "SELECT analysis_id, name, source, as_of, customers, pages, created_at
             FROM analyses WHERE analysis_id = $1",
        )
        .bind(analysis_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => analysis_of(&row),
            None => Err(StoreError::NotFound(format!(
                "no analysis {analysis_id}; GET /v1/analyses lists them"
            ))),
        }
    }

    /// The headline numbers of the analyses named `name`, oldest first: `(as_of, created_at,
    /// kpis)`.
    pub async fn analysis_kpis(
        &self,
        name: &str,
    ) -> Result<Vec<(String, String, serde_json::Value)>> {
        let rows = sqlx::query(
            "SELECT as_of, created_at, kpis FROM analyses WHERE name = $1 ORDER BY created_at, analysis_id",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    get(row, "as_of")?,
                    get(row, "created_at")?,
                    json(&get::<String>(row, "kpis")?, "headline numbers")?,
                ))
            })
            .collect()
    }

    /// The model the customer page of an analysis computes with (JSON).
    pub async fn analysis_model(&self, analysis_id: &str) -> Result<serde_json::Value> {
        self.analysis(analysis_id).await?;
        let row = sqlx::query("SELECT model FROM analyses WHERE analysis_id = $1")
            .bind(analysis_id)
            .fetch_one(&self.pool)
            .await?;
        json(&get::<String>(&row, "model")?, "model")
    }

    /// A page of an analysis, as stored (JSON text).
    pub async fn analysis_page(&self, analysis_id: &str, page: &str) -> Result<String> {
        let analysis = self.analysis(analysis_id).await?;
        let row =
            sqlx::query("SELECT body FROM analysis_pages WHERE analysis_id = $1 AND page = $2")
                .bind(analysis_id)
                .bind(page)
                .fetch_optional(&self.pool)
                .await?;
        match row {
            Some(row) => get(&row, "body"),
            None => Err(StoreError::NotFound(format!(
                "analysis {analysis_id} has no page {page:?}; it has {}",
                analysis.pages.join(", ")
            ))),
        }
    }

    /// The customers of an analysis that pass the query's filters, in its order, and how many
    /// pass in all.
    pub async fn analysis_customers(
        &self,
        analysis_id: &str,
        query: &CustomerQuery,
    ) -> Result<(i64, Vec<AnalysisCustomer>)> {
        let info = self.analysis(analysis_id).await?;
        let (filter, binds) = customer_filter(query);
        // Without a filter every customer matches: the analysis row knows how many.
        let total = if binds.is_empty() {
            info.customers
        } else {
            let total_sql = format!("SELECT COUNT(*) AS n FROM analysis_customers WHERE {filter}");
            let mut total = sqlx::query(&total_sql).bind(analysis_id);
            for b in &binds {
                total = b.bind_to(total);
            }
            get(&total.fetch_one(&self.pool).await?, "n")?
        };
        let order = if query.ascending { "ASC" } else { "DESC" };
        let column = query.sort.column();
        // NULLs (customers without a CLV) last in either order (descending, the default, then
        // reads straight off the index); ties by customer id.
        let nulls_last = if query.sort.nullable() {
            " NULLS LAST"
        } else {
            ""
        };
        let mut binds = binds;
        let mut filter = filter;
        if let Some(after) = &query.after {
            let mark = |binds: &Vec<Bind>| format!("${}", binds.len() + 2);
            let beyond = if query.ascending { ">" } else { "<" };
            let clause = match (query.sort, after.value) {
                (CustomerSort::CustomerId, _) => {
                    let m = mark(&binds);
                    binds.push(Bind::Text(after.customer_id.clone()));
                    format!("customer_id {beyond} {m}")
                }
                // In the NULL tail: the NULLs after the id.
                (_, None) => {
                    let m = mark(&binds);
                    binds.push(Bind::Text(after.customer_id.clone()));
                    format!("{column} IS NULL AND customer_id > {m}")
                }
                (sort, Some(v)) => {
                    let mv = mark(&binds);
                    binds.push(Bind::Number(v));
                    let mi = mark(&binds);
                    binds.push(Bind::Text(after.customer_id.clone()));
                    // `col <= v` (or >=) first, so the order's index reads from the cursor on.
                    let tail = if sort.nullable() {
                        format!(" OR {column} IS NULL")
                    } else {
                        String::new()
                    };
                    format!(
                        "(({column} {beyond}= {mv} AND ({column} {beyond} {mv} OR customer_id > {mi})){tail})"
                    )
                }
            };
            filter = format!("{filter} AND {clause}");
        }
        let sql = format!(
            "SELECT {CUSTOMER_COLUMNS} FROM analysis_customers WHERE {filter}
             ORDER BY {column} {order}{nulls_last}, customer_id
             LIMIT {} OFFSET {}",
            query.limit.max(0),
            query.offset.max(0)
        );
        let mut rows = sqlx::query(&sql).bind(analysis_id);
        for b in &binds {
            rows = b.bind_to(rows);
        }
        let rows = rows.fetch_all(&self.pool).await?;
        let customers = rows.iter().map(customer_of).collect::<Result<_>>()?;
        Ok((total, customers))
    }

    /// One customer of an analysis, with their purchases.
    pub async fn analysis_customer(
        &self,
        analysis_id: &str,
        customer_id: &str,
    ) -> Result<StoredCustomer> {
        self.analysis(analysis_id).await?;
        let row = sqlx::query(&format!(
            "SELECT {CUSTOMER_COLUMNS}, purchases FROM analysis_customers
             WHERE analysis_id = $1 AND customer_id = $2"
        ))
        .bind(analysis_id)
        .bind(customer_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(StoredCustomer {
                customer: customer_of(&row)?,
                purchases: json(&get::<String>(&row, "purchases")?, "purchases")?,
            }),
            None => Err(StoreError::NotFound(format!(
                "analysis {analysis_id} has no customer {customer_id:?}"
            ))),
        }
    }

    /// A customer in every analysis of `name`, oldest first.
    pub async fn customer_across_analyses(
        &self,
        name: &str,
        customer_id: &str,
    ) -> Result<Vec<(AnalysisInfo, AnalysisCustomer)>> {
        let rows = sqlx::query(
            "SELECT a.analysis_id AS analysis_id, a.name AS name, a.source AS source,
                    a.as_of AS as_of, a.customers AS customers, a.pages AS pages,
                    a.created_at AS created_at,
                    c.customer_id AS customer_id, c.segment AS segment, c.stage AS stage,
                    c.churn_risk AS churn_risk, c.p_alive AS p_alive,
                    c.expected_purchases AS expected_purchases, c.clv AS clv,
                    c.historic_value AS historic_value, c.value_at_risk AS value_at_risk,
                    c.next_purchase AS next_purchase, c.reasons AS reasons
             FROM analyses a CROSS JOIN analysis_customers c
             WHERE c.analysis_id = a.analysis_id AND a.name = $1 AND c.customer_id = $2
             ORDER BY a.created_at, a.analysis_id",
        )
        .bind(name)
        .bind(customer_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((analysis_of(row)?, customer_of(row)?)))
            .collect()
    }
}

/// A value bound to a filter's placeholder.
enum Bind {
    Text(String),
    Number(f64),
}

impl Bind {
    fn bind_to<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        match self {
            Bind::Text(s) => query.bind(s.clone()),
            Bind::Number(v) => query.bind(*v),
        }
    }
}

/// The WHERE clause of a query ($1 is the analysis id) and the values of its placeholders.
fn customer_filter(query: &CustomerQuery) -> (String, Vec<Bind>) {
    let mut clauses = vec!["analysis_id = $1".to_string()];
    let mut binds = Vec::new();
    let mut add = |clause: &str, bind: Bind| {
        binds.push(bind);
        clauses.push(clause.replace('?', &format!("${}", binds.len() + 1)));
    };
    if let Some(segment) = &query.segment {
        add("segment = ?", Bind::Text(segment.clone()));
    }
    if let Some(stage) = &query.stage {
        add("stage = ?", Bind::Text(stage.clone()));
    }
    // `+column`: thresholds are checked inside whichever index the segment, stage or order
    // chose, never used to pick one (a range over a million rows then sorted is the slow plan).
    if let Some(risk) = query.min_churn_risk {
        add("+churn_risk >= ?", Bind::Number(risk));
    }
    if let Some(value) = query.min_value {
        add("+historic_value >= ?", Bind::Number(value));
    }
    (clauses.join(" AND "), binds)
}

fn json(text: &str, what: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Invalid(format!("the stored {what} are not readable: {e}")))
}

fn analysis_of(row: &AnyRow) -> Result<AnalysisInfo> {
    Ok(AnalysisInfo {
        analysis_id: get(row, "analysis_id")?,
        name: get(row, "name")?,
        source: get(row, "source")?,
        as_of: get(row, "as_of")?,
        customers: get(row, "customers")?,
        pages: serde_json::from_value(json(&get::<String>(row, "pages")?, "pages")?)
            .map_err(|e| StoreError::Invalid(format!("the stored pages are not a list: {e}")))?,
        created_at: get(row, "created_at")?,
    })
}

fn customer_of(row: &AnyRow) -> Result<AnalysisCustomer> {
    Ok(AnalysisCustomer {
        customer_id: get(row, "customer_id")?,
        segment: get(row, "segment")?,
        stage: get(row, "stage")?,
        churn_risk: get(row, "churn_risk")?,
        p_alive: get(row, "p_alive")?,
        expected_purchases: get(row, "expected_purchases")?,
        clv: get(row, "clv")?,
        historic_value: get(row, "historic_value")?,
        value_at_risk: get(row, "value_at_risk")?,
        next_purchase: get(row, "next_purchase")?,
        reasons: json(&get::<String>(row, "reasons")?, "reasons")?,
    })
}
