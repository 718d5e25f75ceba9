"""The pipeline layer every stage shares, knowing nothing of Faust or of one service:

- `step`: one record in, its output messages or its dead letter out, as values;
- `publish`: a producer whose sends are confirmed before anything is committed past them;
- `limit`: the dead-letter limit that stops a stage which would otherwise dead-letter everything;
- `topology`: the stages, their topics and groups, declared once.
"""
