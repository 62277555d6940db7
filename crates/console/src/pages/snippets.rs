//! The lines a developer pastes to call the relay with a new key: an `export`
//! line, curl, the OpenAI SDKs for Python and Node, the Anthropic SDK for Python,
//! and Claude Code. Built here (escaped by the template like any text) from the
//! operator's `relay_public_url` and the key, which the page shows once anyway.

/// One copyable snippet.
pub struct Snippet {
    /// The element id its Copy button names.
    pub id: &'static str,
    pub label: &'static str,
    pub text: String,
}

/// The relay's address without a trailing slash.
pub fn relay_base(url: &str) -> &str {
    url.trim_end_matches('/')
}

pub fn for_key(relay_url: &str, key: &str) -> Vec<Snippet> {
    let relay = relay_base(relay_url);
    vec![
        Snippet {
            id: "snippet-export",
            label: "Shell",
            text: format!(
                "export AIRLOCK_KEY={key}\nexport OPENAI_BASE_URL={relay}/v1 OPENAI_API_KEY=$AIRLOCK_KEY"
            ),
        },
        Snippet {
            id: "snippet-curl",
            label: "curl",
            text: format!(
                "curl {relay}/v1/chat/completions \\\n  -H \"Authorization: Bearer {key}\" -H \"Content-Type: application/json\" \\\n  -d '{{\"model\":\"gpt-4o-mini\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}]}}'"
            ),
        },
        Snippet {
            id: "snippet-openai-python",
            label: "OpenAI Python",
            text: format!(
                "from openai import OpenAI\nclient = OpenAI(base_url=\"{relay}/v1\", api_key=\"{key}\")"
            ),
        },
        Snippet {
            id: "snippet-openai-node",
            label: "OpenAI Node",
            text: format!(
                "import OpenAI from \"openai\";\nconst client = new OpenAI({{ baseURL: \"{relay}/v1\", apiKey: \"{key}\" }});"
            ),
        },
        Snippet {
            id: "snippet-anthropic-python",
            label: "Anthropic Python",
            text: format!(
                "from anthropic import Anthropic\nclient = Anthropic(base_url=\"{relay}\", api_key=\"{key}\")"
            ),
        },
        Snippet {
            id: "snippet-claude-code",
            label: "Claude Code",
            text: format!("export ANTHROPIC_BASE_URL={relay}\nexport ANTHROPIC_API_KEY={key}"),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_snippet_names_the_relay_and_the_key() {
        let snippets = for_key("https://relay.example.com/", "dev_abc");
        assert_eq!(snippets.len(), 6);
        for snippet in &snippets {
            assert!(
                snippet.text.contains("https://relay.example.com"),
                "{}",
                snippet.label
            );
            assert!(!snippet.text.contains(".com//"), "{}", snippet.label);
            assert!(snippet.text.contains("dev_abc"), "{}", snippet.label);
        }
        let python = &snippets[2].text;
        assert!(python.contains("base_url=\"https://relay.example.com/v1\""));
        let anthropic = &snippets[4].text;
        assert!(anthropic.contains("base_url=\"https://relay.example.com\""));
    }
}
