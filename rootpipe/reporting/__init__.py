"""The campaign report's parts, as functions of tables and arrays: figures (matplotlib), pictures
(masks, skeletons by diameter class, gained and lost roots over the images), HTML tables with QC flags,
the methods text, and the Jinja2 page that holds them. The report stage (:mod:`rootpipe.stages.report`)
reads the results and writes the page.
"""
