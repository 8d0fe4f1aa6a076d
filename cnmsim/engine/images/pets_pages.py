"""The pages the docker-pets web app (chrch/docker-pets:1.0) renders, and Werkzeug's own pages.

pets.html, vote.html and admin.html are the repository's templates (mark-church/docker-pets,
web/templates), rendered as Flask's Jinja does it: autoescaped values, `{% if %}` blocks without
trim_blocks (the tag's line keeps its indentation and newline), one trailing newline dropped.
The error and redirect bodies are Werkzeug 0.11's (werkzeug/exceptions.py, werkzeug/utils.py redirect()).
"""

from __future__ import annotations

import re

PETS_HTML = """<html>
  <head>\x20\x20
    <link rel='stylesheet' type='text/css' href="../static/style.css">
    <title>Docker PaaS</title>
  </head>


  <body>
    <div class="title">
      <p style="text-align:left; margin-left:50px;"><img src="../static/docker_logo.png" width="100px"></p>
      <h2>Docker Pets as a Service</h2>
    </div>
    <div class="wrapper">

      <div class="container">
        <img src="{{url}}" class="centerfold"/>
      </div>
      <div class="stats">
        <p>Processed by container ID</p>
        <p><b>{{hostname}}</b></p>
        <p><b>{{hit_string}}</b></p>
        <p>version {{version}}</p>
      </div>\x20
    </div>

    <div class="petOpts">
\x20\x20\x20\x20\x20\x20
      {% if db_exists|string() == "True"|string() %}
      <div class="petOptsLeft">
        <form id="choice" name='form' method="GET" action="/vote">
            <button id="vote" type="submit" name="vote" class="btn">Vote Again</button>
        </form>
      </div>
      {% endif %}

      <div class="petOptsRight">
        <form id="choice" name='form' method="GET" action="/">
            <button id="reload" type="submit" name="reload" class="btn">Serve Another Pet</button>\x20
        </form>
      </div>\x20\x20\x20\x20
    </div>
\x20\x20


  </body>
</html>
"""

VOTE_HTML = """<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8">
    <title>Docker PaaS</title>
    <div class="title">
      <p style="text-align:left; margin-left:50px;"><img src="../static/docker_logo.png" width="100px"></p>
      <h2>Docker Pets as a Service</h2>
    </div>

    <base href="/index.html">
    <meta name = "viewport" content = "width=device-width, initial-scale = 1.0">
    <meta name="keywords" content="docker-compose, docker, stack">
    <meta name="author" content="Tutum dev team">
    <link rel='stylesheet' type='text/css' href="../static/style.css">

    <link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/font-awesome/4.4.0/css/font-awesome.min.css">
        <link rel='stylesheet' href="{{ url_for('static',filename='style-test.css') }}" />
  </head>
  <body>


  <br>
    <div id="content-container">
      <div id="content-container-center">
        <form id="choice" name='form' method="POST" action="/vote">
         <input type="text" name="name" class="text-line" placeholder="Enter name and vote for your favorite pet" required>

         <br>
         <br>
\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20
          <button id="a" type="submit" name="vote" class="a" value="a">{{option_a}}</button>
          <button id="b" type="submit" name="vote" class="b" value="b">{{option_b}}</button>
          <button id="a" type="submit" name="vote" class="a" value="c">{{option_c}}</button>

        </form>
        <div class="tip">
          <br>
          <br>
          <br>
          Processed by container ID <b>{{hostname}}</b>
        </div>
      </div>
    </div>
    <script src="http://code.jquery.com/jquery-latest.min.js" type="text/javascript"></script>
    <script src="//cdnjs.cloudflare.com/ajax/libs/jquery-cookie/1.4.1/jquery.cookie.js"></script>

    {% if vote %}
    <script>
      var vote = "{{vote}}";
      if(vote == "a"){
        $(".a").prop('disabled', true);
        $(".a").html('{{option_a}} <i class="fa fa-check-circle"></i>');
        $(".b").css('opacity','0.4');
      }
      if(vote == "b"){
        $(".b").prop('disabled', true);
        $(".b").html('{{option_b}} <i class="fa fa-check-circle"></i>');
        $(".a").css('opacity','0.4');
      }
      if(vote == "c"){
        $(".a").prop('disabled', true);
        $(".a").html('{{option_c}} <i class="fa fa-check-circle"></i>');
        $(".b").css('opacity','0.4');
      }
    </script>
    {% endif %}
  </body>
</html>"""

ADMIN_HTML = """<html>
  <head>\x20\x20
    <link rel='stylesheet' type='text/css' href="../static/style.css">
    <title>Docker PaaS</title>


    <script type="text/javascript" src="https://www.gstatic.com/charts/loader.js"></script>
    <script type="text/javascript">
      google.charts.load('current', {'packages':['bar']});
      google.charts.setOnLoadCallback(drawChart);
      function drawChart() {
        var data = google.visualization.arrayToDataTable([
        ['Pets', 'Votes'],
        ['{{option_a}}', {{a_votes}}],
        ['{{option_b}}', {{b_votes}}],
        ['{{option_c}}', {{c_votes}}]
      ]);

        var options = { backgroundColor: '#f7f8f9', chartArea:{
      backgroundColor: '#f7f8f9'}};

        var chart = new google.charts.Bar(document.getElementById('columnchart_material'));

        chart.draw(data, google.charts.Bar.convertOptions(options));
      }
    </script>

  </head>


  <body>
    <div class="title">
      <p style="text-align:left; margin-left:50px;"><img src="../static/docker_logo.png" width="100px"></p>
      <h2>Docker PaaS Admin Console</h2>
    </div>
\x20\x20\x20\x20
    <div class="wrapper">


    <div id="columnchart_material" style="width: 800px; height: 400px;"></div>
    <div style="text-align:center;">
          <br>

          Processed by container ID <b>{{hostname}}</b>
          <br>
          <br>
        </div>

    </div>

  </body>
</html>
"""

WERKZEUG_ERRORS = {
    400: ("Bad Request", "The browser (or proxy) sent a request that this server could not understand."),
    404: ("Not Found", "The requested URL was not found on the server.  If you entered the URL "
                       "manually please check your spelling and try again."),
    405: ("Method Not Allowed", "The method is not allowed for the requested URL."),
    500: ("Internal Server Error", "The server encountered an internal error and was unable to "
                                   "complete your request.  Either the server is overloaded or "
                                   "there is an error in the application."),
}
DOCTYPE = '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n'
_ESCAPE = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"}


def escape(value: str) -> str:
    """markupsafe.escape, as Jinja autoescapes {{ values }} in .html templates."""
    return "".join(_ESCAPE.get(c, c) for c in value)


def render(template: str, values: dict[str, str], show_block: bool) -> str:
    """Jinja's output for these templates: the one {% if %} block kept or dropped, values
    escaped, url_for('static', ...) resolved, a single trailing newline removed."""
    out = re.sub(r"\{% if [^%]*%\}(.*?)\{% endif %\}", lambda m: m.group(1) if show_block else "",
                 template, flags=re.S)
    out = re.sub(r"\{\{ url_for\('static',filename='([^']*)'\) \}\}", r"/static/\1", out)
    out = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: escape(values[m.group(1)]), out)
    return out[:-1] if out.endswith("\n") else out


def error_page(status: int) -> str:
    """Werkzeug's HTTPException body for 404, 405 and 500."""
    name, text = WERKZEUG_ERRORS[status]
    return f"{DOCTYPE}<title>{status} {name}</title>\n<h1>{name}</h1>\n<p>{text}</p>\n"


def redirect_page(location: str) -> str:
    """werkzeug.utils.redirect()'s body (the Location header itself is made absolute)."""
    loc = escape(location)
    return (f"{DOCTYPE}<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n"
            f'<p>You should be redirected automatically to target URL: <a href="{loc}">{loc}</a>.  '
            "If not click the link.")
