//! Which columns of a customer table are attributes a model or an analysis may use: every
//! column but the id, the label and those left out, numbers as numbers, text as categories
//! unless it has too many distinct values to be one (ids, free text). `train` and `drivers`
//! choose the same columns because both ask here.

use retain_data::{ColumnKind, CustomerTable};

use crate::Result;

/// How attributes are chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeSelection {
    /// Columns to leave out by name.
    pub exclude: Vec<String>,
    /// Text columns with more distinct values than this are left out.
    pub max_categories: u64,
}

impl Default for AttributeSelection {
    fn default() -> Self {
        AttributeSelection {
            exclude: Vec::new(),
            max_categories: 50,
        }
    }
}

/// One attribute's values, one per table row (`None`: missing).
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValues {
    Numbers(Vec<Option<f64>>),
    Categories(Vec<Option<String>>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub values: AttributeValues,
}

/// A text column left out for having more distinct values than a category may.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedColumn {
    pub name: String,
    pub distinct: u64,
}

impl std::fmt::Display for SkippedColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} distinct values)", self.name, self.distinct)
    }
}

/// The chosen attributes in the table's column order, and the text columns left out.
#[derive(Debug, Clone, Default)]
pub struct Attributes {
    pub columns: Vec<Attribute>,
    pub skipped: Vec<SkippedColumn>,
}

impl AttributeSelection {
    /// The table's attributes, leaving out `leave_out` (a label) besides [`Self::exclude`].
    pub fn select(&self, table: &CustomerTable, leave_out: &[&str]) -> Result<Attributes> {
        let mut chosen = Attributes::default();
        let first_attribute = usize::from(table.ids().is_some());
        for (index, column) in table.columns.iter().enumerate().skip(first_attribute) {
            let name = column.name.as_str();
            if leave_out.contains(&name) || self.exclude.iter().any(|e| e == name) {
                continue;
            }
            let values = match column.kind {
                ColumnKind::Integer | ColumnKind::Float => {
                    AttributeValues::Numbers(table.numbers(name, "attribute")?)
                }
                _ if table.distinct(index) > self.max_categories => {
                    chosen.skipped.push(SkippedColumn {
                        name: name.to_string(),
                        distinct: table.distinct(index),
                    });
                    continue;
                }
                _ => AttributeValues::Categories(table.text(name, "attribute")?),
            };
            chosen.columns.push(Attribute {
                name: name.to_string(),
                values,
            });
        }
        Ok(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use retain_data::{CustomerTableOptions, Delimiter};

    #[test]
    fn numbers_categories_and_free_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("customers.csv");
        let mut text = String::from("id,plan,age,note,churned\n");
        for i in 0..60 {
            text.push_str(&format!(
                "c{i},{},{},note {i},{}\n",
                ["basic", "pro"][i % 2],
                20 + i,
                i % 3 == 0
            ));
        }
        std::fs::write(&path, text).unwrap();
        let table = retain_data::read_customer_table(
            &path,
            &CustomerTableOptions {
                id_col: Some("id".into()),
                delimiter: Delimiter::Auto,
                na_values: vec![],
                ..Default::default()
            },
        )
        .unwrap();
        let chosen = AttributeSelection::default()
            .select(&table, &["churned"])
            .unwrap();
        let names: Vec<&str> = chosen.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["plan", "age"]);
        assert!(
            matches!(chosen.columns[1].values, AttributeValues::Numbers(ref v) if v[0] == Some(20.0))
        );
        assert_eq!(
            chosen.skipped,
            [SkippedColumn {
                name: "note".into(),
                distinct: 60
            }]
        );
        let fewer = AttributeSelection {
            exclude: vec!["plan".into()],
            max_categories: 100,
        }
        .select(&table, &["churned"])
        .unwrap();
        let names: Vec<&str> = fewer.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["age", "note"]);
    }
}
