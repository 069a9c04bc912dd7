//! Following a redirect as a new request, so that the host's egress policy
//! checks every hop.

use url::Url;

use super::Header;

/// One request on the way to a response.
#[derive(Debug, Clone)]
pub(crate) struct Hop {
    /// Upper-case method.
    pub(crate) method: String,
    /// Absolute `http` or `https` URL without user info.
    pub(crate) url: Url,
    /// Headers to send, in order.
    pub(crate) headers: Vec<Header>,
    /// The body, when there is one.
    pub(crate) body: Option<Vec<u8>>,
}

/// The statuses the SDK follows.
pub(crate) fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// The request to make after `status` with `location`: 301, 302 and 303
/// turn into a `GET` without a body (`HEAD` stays `HEAD`); 307 and 308 keep
/// the method and the body. Credentials are dropped when the origin changes.
/// The error text explains a location that cannot be followed.
pub(crate) fn follow(mut hop: Hop, status: u16, location: &str) -> Result<Hop, String> {
    let mut next = hop
        .url
        .join(location)
        .map_err(|err| format!("the redirect location `{location}` is not a URL ({err})"))?;
    if !matches!(next.scheme(), "http" | "https") {
        return Err(format!(
            "the redirect location `{location}` is not an http or https URL"
        ));
    }
    next.set_fragment(None);
    // User info in a location is never sent; `set_*` only fails for URLs
    // that cannot carry it.
    let _ = next.set_username("");
    let _ = next.set_password(None);

    if matches!(status, 301..=303) && hop.method != "GET" && hop.method != "HEAD" {
        hop.method = "GET".to_owned();
        hop.body = None;
        hop.headers.retain(|header| !header.describes_body());
    }
    if next.origin() != hop.url.origin() {
        hop.headers.retain(|header| !header.is_credential());
    }
    hop.url = next;
    Ok(hop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(method: &str, url: &str) -> Hop {
        Hop {
            method: method.to_owned(),
            url: Url::parse(url).unwrap(),
            headers: vec![
                Header::new("Authorization", "Bearer t"),
                Header::new("Content-Type", "application/json"),
                Header::new("X-Trace", "1"),
                Header::secret("X-Api-Key", "k"),
            ],
            body: Some(b"{}".to_vec()),
        }
    }

    fn names(hop: &Hop) -> Vec<&str> {
        hop.headers
            .iter()
            .map(|header| header.name.as_str())
            .collect()
    }

    #[test]
    fn relative_location_resolves_against_the_current_url() {
        let next = follow(
            hop("GET", "https://a.example/v1/x?q=1"),
            302,
            "../v2/y?z=2#frag",
        )
        .unwrap();
        assert_eq!(next.url.as_str(), "https://a.example/v2/y?z=2");
        let next = follow(hop("GET", "https://a.example/v1/x"), 301, "/root").unwrap();
        assert_eq!(next.url.as_str(), "https://a.example/root");
    }

    #[test]
    fn see_other_turns_a_post_into_a_get_without_body() {
        let next = follow(hop("POST", "https://a.example/form"), 303, "/done").unwrap();
        assert_eq!(next.method, "GET");
        assert_eq!(next.body, None);
        assert_eq!(names(&next), ["Authorization", "X-Trace", "X-Api-Key"]);
    }

    #[test]
    fn moved_turns_a_put_into_a_get() {
        let next = follow(hop("PUT", "https://a.example/x"), 301, "/y").unwrap();
        assert_eq!(next.method, "GET");
        assert_eq!(next.body, None);
    }

    #[test]
    fn temporary_and_permanent_redirects_keep_method_and_body() {
        for status in [307, 308] {
            let next = follow(hop("POST", "https://a.example/x"), status, "/y").unwrap();
            assert_eq!(next.method, "POST");
            assert_eq!(next.body.as_deref(), Some(&b"{}"[..]));
            assert_eq!(names(&next).len(), 4);
        }
    }

    #[test]
    fn credentials_are_dropped_when_the_origin_changes() {
        let next = follow(
            hop("GET", "https://a.example/x"),
            302,
            "https://b.example/y",
        )
        .unwrap();
        assert_eq!(names(&next), ["Content-Type", "X-Trace"]);
        // A different port or scheme is a different origin too.
        let next = follow(hop("GET", "https://a.example/x"), 302, "http://a.example/y").unwrap();
        assert!(!names(&next).contains(&"Authorization"));
        let next = follow(
            hop("GET", "https://a.example/x"),
            302,
            "https://a.example:8443/",
        )
        .unwrap();
        assert!(!names(&next).contains(&"Authorization"));
    }

    #[test]
    fn credentials_stay_on_the_same_origin() {
        let next = follow(
            hop("GET", "https://a.example/x"),
            302,
            "https://a.example/y",
        )
        .unwrap();
        assert!(names(&next).contains(&"Authorization"));
    }

    #[test]
    fn non_http_location_is_refused() {
        let err = follow(hop("GET", "https://a.example/x"), 302, "file:///etc/passwd").unwrap_err();
        assert!(err.contains("not an http or https URL"), "{err}");
    }

    #[test]
    fn user_info_in_a_location_is_dropped() {
        let next = follow(
            hop("GET", "https://a.example/x"),
            302,
            "https://u:p@a.example/y",
        )
        .unwrap();
        assert_eq!(next.url.as_str(), "https://a.example/y");
    }
}
