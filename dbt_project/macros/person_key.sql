{#- HMAC-SHA256 of a normalised id number, hex. current_setting() raises "unrecognized
    configuration parameter" when the key was not provided, so the build fails rather than
    producing unkeyed or guessable ids. -#}
{% macro person_key(column) -%}
    encode(hmac({{ column }}, current_setting('halfsky.person_key'), 'sha256'), 'hex')
{%- endmacro %}
