// kubenexus simulate --report: group-by and search; inlined into the page (no network).
(function(){
  var all=[].slice.call(document.querySelectorAll('.node'));
  var box=document.getElementById('groups');
  function regroup(){
    var key=document.getElementById('groupby').value;
    box.innerHTML='';
    var buckets={};
    all.forEach(function(n){var k=key==='none'?'all nodes':n.dataset[key];(buckets[k]=buckets[k]||[]).push(n);});
    var keys=Object.keys(buckets).sort();
    if(key==='load'){keys.reverse();}  // the fullest nodes first
    keys.forEach(function(k){
      var d=document.createElement('details');d.className='group';
      d.open=buckets[k].length<=60;  // big groups start folded (a lone one too): one screen
      var s=document.createElement('summary');d.appendChild(s);
      var g=document.createElement('div');g.className='grid';d.appendChild(g);
      buckets[k].forEach(function(n){g.appendChild(n);});
      d.dataset.label=k;box.appendChild(d);
    });
    filter();
  }
  function average(cards,key){
    var sum=0;cards.forEach(function(n){sum+=Number(n.dataset[key]||0);});
    return cards.length?Math.round(sum/cards.length):0;
  }
  function filter(){
    var q=document.getElementById('search').value.trim().toLowerCase();
    document.querySelectorAll('[data-search]').forEach(function(e){
      e.classList.toggle('hidden',q!==''&&e.dataset.search.indexOf(q)<0);
    });
    document.querySelectorAll('table').forEach(function(t){
      t.classList.toggle('hidden',t.querySelectorAll('tbody tr:not(.hidden)').length===0);
    });
    document.querySelectorAll('details.group').forEach(function(d){
      var shown=d.querySelectorAll('.node:not(.hidden)').length;
      var cards=d.querySelectorAll('.node:not(.hidden)');
      d.firstChild.textContent=d.dataset.label+' ('+shown+' node'+(shown===1?'':'s')+')';
      var agg=document.createElement('span');agg.className='agg';
      agg.textContent=' · requested: cpu '+average(cards,'cpu')+'%, memory '+average(cards,'memory')+'%';
      d.firstChild.appendChild(agg);
      d.classList.toggle('hidden',shown===0);
      if(q!==''&&shown>0){d.open=true;}
    });
  }
  document.getElementById('groupby').addEventListener('change',regroup);
  document.getElementById('search').addEventListener('input',filter);
  // #q=TEXT&group=KEY: a link that opens the page searched and grouped.
  var params=new URLSearchParams(location.hash.replace(/^#/,''));
  if(params.get('q')){document.getElementById('search').value=params.get('q');}
  if(params.get('group')){document.getElementById('groupby').value=params.get('group');}
  regroup();
})();
