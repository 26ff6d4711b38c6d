//! Plain-text tables, left-aligned columns separated by three spaces, as kn prints them.

/// A table: a header row and data rows of the same width.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// Spaces between two columns (kn's tabwriter padding).
const PADDING: usize = 3;

impl Table {
    /// A table with these column titles.
    pub fn new<I, S>(header: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; missing cells print empty, extra cells are dropped.
    pub fn push(&mut self, row: Vec<String>) {
        let mut row = row;
        row.resize(self.header.len(), String::new());
        self.rows.push(row);
    }

    /// Every line, each ending in `\n`, with trailing spaces trimmed.
    pub fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .map(|row| row[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (cell, width) in row.iter().zip(&widths) {
                line.push_str(cell);
                let pad = width - cell.chars().count() + PADDING;
                line.extend(std::iter::repeat_n(' ', pad));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell_plus_padding() {
        let mut table = Table::new(["NAME", "URL"]);
        table.push(vec!["hello-world".into(), "http://a".into()]);
        table.push(vec!["x".into(), String::new()]);
        assert_eq!(
            table.render(),
            "NAME          URL\nhello-world   http://a\nx\n",
            "each column is padded to its widest cell plus three spaces; trailing spaces trimmed"
        );
    }

    #[test]
    fn short_rows_are_padded_with_empty_cells() {
        let mut table = Table::new(["A", "B", "C"]);
        table.push(vec!["1".into()]);
        assert_eq!(table.render(), "A   B   C\n1\n");
    }
}
