//! Picking tags: chips for the chosen ones, a box that suggests the merchant's existing tags
//! and marks a tag nobody has yet as new, so a typo is seen before it is saved. A tag is
//! checked as the server checks it (letters, digits, spaces, `-` and `_`, up to 40
//! characters, at most 20 per customer) and kept lower-cased, as the server keeps it.

use leptos::prelude::*;
use loyalcast_dto::text::is_tag_letter;

/// The most tags one customer may have (the server refuses more).
pub const MAX_TAGS: usize = 20;
const MAX_TAG_CHARS: usize = 40;

/// The tag as the server would keep it, or why it would refuse it.
pub fn check_tag(value: &str) -> Result<String, String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err("A tag cannot be blank.".to_owned());
    }
    if value.chars().count() > MAX_TAG_CHARS {
        return Err(format!("A tag has at most {MAX_TAG_CHARS} characters."));
    }
    if !value
        .chars()
        .all(|c| is_tag_letter(c) || matches!(c, '-' | '_' | ' '))
    {
        return Err("A tag may hold letters, digits, spaces, “-” and “_”.".to_owned());
    }
    Ok(trimmed.to_lowercase())
}

#[component]
pub fn TagPicker(
    /// The chosen tags.
    tags: RwSignal<Vec<String>>,
    /// The merchant's existing tags, suggested while typing.
    #[prop(into)]
    known: Signal<Vec<String>>,
    /// The id of the text box (its label points at it).
    #[prop(into)]
    id: String,
    /// Set to the problem with what was typed, cleared when it is fixed.
    problem: RwSignal<Option<String>>,
) -> impl IntoView {
    let typed = RwSignal::new(String::new());
    let list_id = format!("{id}-known");
    let add = move || {
        let value = typed.get_untracked();
        if value.trim().is_empty() {
            return;
        }
        match check_tag(&value) {
            Err(message) => problem.set(Some(message)),
            Ok(tag) => {
                if tags.with_untracked(|t| t.contains(&tag)) {
                    typed.set(String::new());
                    return;
                }
                if tags.with_untracked(Vec::len) >= MAX_TAGS {
                    problem.set(Some(format!("A customer has at most {MAX_TAGS} tags.")));
                    return;
                }
                tags.update(|t| t.push(tag));
                typed.set(String::new());
                problem.set(None);
            }
        }
    };
    let is_new = move |tag: &str| known.with(|k| !k.iter().any(|t| t == tag));
    view! {
        <div class="tag-picker" data-testid="tag-picker">
            {move || tags.get().into_iter().map(|tag| {
                let removing = tag.clone();
                let new = is_new(&tag);
                view! {
                    <span class="tag" class:tag-new=new data-testid="picked-tag"
                        title=if new { "A new tag: no other customer has it yet" } else { "" }>
                        {tag.clone()}
                        {new.then(|| view! { <span class="sr-only">" (new tag)"</span> })}
                        <button type="button" aria-label=format!("Remove tag {tag}")
                            data-testid="remove-tag"
                            on:click=move |_| tags.update(|t| t.retain(|x| *x != removing))>
                            "×"
                        </button>
                    </span>
                }
            }).collect_view()}
            <input
                id=id.clone()
                type="text"
                list=list_id.clone()
                maxlength="40"
                placeholder="Add a tag"
                autocomplete="off"
                data-testid="tag-input"
                prop:value=typed
                on:input=move |ev| {
                    typed.set(event_target_value(&ev));
                    problem.set(None);
                }
                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                    if ev.key() == "Enter" || ev.key() == "," {
                        ev.prevent_default();
                        add();
                    }
                }
                on:change=move |_| add()
            />
            <datalist id=list_id>
                {move || known.get().into_iter().map(|t| view! { <option value=t/> }).collect_view()}
            </datalist>
        </div>
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::check_tag;

    #[test]
    fn tags_are_checked_as_the_server_checks_them() {
        assert_eq!(check_tag("  VIP "), Ok("vip".to_owned()));
        assert_eq!(check_tag("coffee-lover_2"), Ok("coffee-lover_2".to_owned()));
        assert!(check_tag("").is_err());
        assert!(check_tag("   ").is_err());
        assert!(check_tag("vip!").is_err());
        assert!(check_tag(&"a".repeat(41)).is_err());
        assert_eq!(check_tag(&"a".repeat(40)), Ok("a".repeat(40)));
    }
}
