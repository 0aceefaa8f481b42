"""The works the book cites, each with its year and venue, and the in-text citations it detects.

Only works that exist are listed; the chapters may cite nothing else (tests/book/test_references.py
reads every chapter and checks). A note on one thing that does *not* exist: OpenAI never
published a "gpt-3" source-code repository; GPT-3 is known from its paper (Brown et al., 2020)
and was offered only through an API. (A seed article lists such a repository; erratum 14.)

In-text citations the book writes, and that :func:`find_citations` detects:

- ``Surname et al. (YEAR)``, ``Surname et al., YEAR``, ``Surname et al. YEAR``;
- two or more names: ``A & B, YEAR``, ``A and B (YEAR)``, ``A, B and C, YEAR``;
- one author in parentheses: ``(Surname, YEAR)`` (also inside ``(…; …)``).

A citation resolves to a work when every name it gives is one of the work's authors and the
year is the work's year or the year of its preprint. Introduced in the appendix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Work:
    """One cited work. ``authors`` are surnames (the first ones and every one the book names)."""

    key: str
    authors: tuple[str, ...]
    year: int
    title: str
    venue: str
    preprint_year: int | None = None  # an arXiv version a chapter may cite by its own year
    note: str = ""

    @property
    def years(self) -> set[int]:
        return {self.year} | ({self.preprint_year} if self.preprint_year else set())

    def citation(self) -> str:
        """How the reference list writes it: ``Vaswani et al. (2017). Title. Venue.``"""
        names = self.authors
        who = (
            names[0] if len(names) == 1
            else f"{names[0]} & {names[1]}" if len(names) == 2
            else f"{names[0]} et al."
        )  # fmt: skip
        extra = f" ({self.note})" if self.note else ""
        return f"{who} ({self.year}). *{self.title}.* {self.venue}.{extra}"


def _w(key, authors, year, title, venue, preprint_year=None, note=""):
    return Work(key, tuple(authors.split()), year, title, venue, preprint_year, note)


# fmt: off
WORKS: tuple[Work, ...] = (
    # Language models, scale and pretraining (chapters 1, 7, 8, 9)
    _w("vaswani2017", "Vaswani Shazeer Parmar Uszkoreit Jones Gomez Kaiser Polosukhin", 2017,
       "Attention Is All You Need", "NeurIPS 2017"),
    _w("radford2018", "Radford Narasimhan Salimans Sutskever", 2018,
       "Improving Language Understanding by Generative Pre-Training", "OpenAI report (GPT-1)"),
    _w("radford2019", "Radford Wu Child Luan Amodei Sutskever", 2019,
       "Language Models are Unsupervised Multitask Learners", "OpenAI report (GPT-2)"),
    _w("devlin2019", "Devlin Chang Lee Toutanova", 2019,
       "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding",
       "NAACL-HLT 2019", preprint_year=2018),
    _w("brown2020", "Brown Mann Ryder Subbiah Kaplan Dhariwal Amodei", 2020,
       "Language Models are Few-Shot Learners", "NeurIPS 2020", note="GPT-3"),
    _w("raffel2020", "Raffel Shazeer Roberts Lee Narang Matena Zhou Li Liu", 2020,
       "Exploring the Limits of Transfer Learning with a Unified Text-to-Text Transformer",
       "Journal of Machine Learning Research 21", preprint_year=2019, note="T5"),
    _w("kaplan2020", "Kaplan McCandlish Henighan Brown Chess Child Gray Radford Wu Amodei", 2020,
       "Scaling Laws for Neural Language Models", "arXiv:2001.08361"),
    _w("hoffmann2022", "Hoffmann Borgeaud Mensch Buchatskaya Cai Rutherford Sifre", 2022,
       "Training Compute-Optimal Large Language Models", "NeurIPS 2022", note="Chinchilla"),
    _w("rae2021", "Rae Borgeaud Cai Millican Hoffmann", 2021,
       "Scaling Language Models: Methods, Analysis & Insights from Training Gopher",
       "arXiv:2112.11446"),
    _w("smith2022", "Smith Patwary Norick LeGresley Rajbhandari", 2022,
       "Using DeepSpeed and Megatron to Train Megatron-Turing NLG 530B, A Large-Scale "
        "Generative Language Model",
       "arXiv:2201.11990"),
    _w("chowdhery2022", "Chowdhery Narang Devlin Bosma", 2022,
       "PaLM: Scaling Language Modeling with Pathways", "arXiv:2204.02311 (JMLR 2023)"),
    _w("liu2019", "Liu Ott Goyal Du Joshi Chen Levy Lewis Zettlemoyer Stoyanov", 2019,
       "RoBERTa: A Robustly Optimized BERT Pretraining Approach", "arXiv:1907.11692"),
    _w("lan2020", "Lan Chen Goodman Gimpel Sharma Soricut", 2020,
       "ALBERT: A Lite BERT for Self-supervised Learning of Language Representations", "ICLR 2020"),
    _w("clark2019", "Clark Khandelwal Levy Manning", 2019,
       "What Does BERT Look At? An Analysis of BERT's Attention", "BlackboxNLP 2019"),
    _w("xiong2020", "Xiong Yang He Zheng Xing Zhang Lan Wang Liu", 2020,
       "On Layer Normalization in the Transformer Architecture", "ICML 2020"),
    _w("elhage2021", "Elhage Nanda Olsson Henighan Joseph Mann Olah", 2021,
       "A Mathematical Framework for Transformer Circuits", "Transformer Circuits Thread"),
    _w("geva2021", "Geva Schuster Berant Levy", 2021,
       "Transformer Feed-Forward Layers Are Key-Value Memories", "EMNLP 2021"),
    _w("jain2019", "Jain Wallace", 2019, "Attention is not Explanation", "NAACL-HLT 2019"),
    _w("su2024", "Su Lu Pan Murtadha Wen Liu", 2024,
       "RoFormer: Enhanced Transformer with Rotary Position Embedding", "Neurocomputing 568",
       preprint_year=2021, note="RoPE"),
    _w("dao2022", "Dao Fu Ermon Rudra Ré", 2022,
       "FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness",
       "NeurIPS 2022"),
    _w("rajbhandari2020", "Rajbhandari Rasley Ruwase He", 2020,
       "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models", "SC 2020"),
    _w("goyal2017", "Goyal Dollár Girshick Noordhuis Wesolowski Kyrola Tulloch Jia He", 2017,
       "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", "arXiv:1706.02677"),
    # Tokens and embeddings (chapters 2, 3)
    _w("sennrich2016", "Sennrich Haddow Birch", 2016,
       "Neural Machine Translation of Rare Words with Subword Units", "ACL 2016", note="BPE"),
    _w("wu2016", "Wu Schuster Chen Le Norouzi", 2016,
       "Google's Neural Machine Translation System: Bridging the Gap between Human and Machine "
        "Translation",
       "arXiv:1609.08144", note="WordPiece at scale"),
    _w("mikolov2013a", "Mikolov Chen Corrado Dean", 2013,
       "Efficient Estimation of Word Representations in Vector Space", "ICLR 2013 workshop"),
    _w("mikolov2013b", "Mikolov Sutskever Chen Corrado Dean", 2013,
       "Distributed Representations of Words and Phrases and their Compositionality",
       "NeurIPS 2013", note="skip-gram with negative sampling"),
    _w("pennington2014", "Pennington Socher Manning", 2014,
       "GloVe: Global Vectors for Word Representation", "EMNLP 2014"),
    _w("levy2014", "Levy Goldberg", 2014, "Neural Word Embedding as Implicit Matrix Factorization",
       "NeurIPS 2014"),
    _w("linzen2016", "Linzen", 2016, "Issues in Evaluating Semantic Spaces Using Word Analogies",
       "RepEval 2016 workshop"),
    _w("rogers2017", "Rogers Drozd Li", 2017,
       "The (Too Many) Problems of Analogical Reasoning with Word Vectors", "*SEM 2017"),
    _w("wang2020", "Wang Wei Dong Bao Yang Zhou", 2020,
       "MiniLM: Deep Self-Attention Distillation for Task-Agnostic Compression of Pre-Trained "
        "Transformers",
       "NeurIPS 2020"),
    _w("reimers2019", "Reimers Gurevych", 2019,
       "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks", "EMNLP-IJCNLP 2019"),
    _w("reimers2020", "Reimers Gurevych", 2020,
       "Making Monolingual Sentence Embeddings Multilingual using Knowledge Distillation",
       "EMNLP 2020"),
    _w("feng2022", "Feng Yang Cer Arivazhagan Wang", 2022,
       "Language-agnostic BERT Sentence Embedding", "ACL 2022", note="LaBSE"),
    # Optimisation and recurrent networks (chapters 4, 5)
    _w("kingma2015", "Kingma Ba", 2015, "Adam: A Method for Stochastic Optimization", "ICLR 2015"),
    _w("loshchilov2017", "Loshchilov Hutter", 2017,
       "SGDR: Stochastic Gradient Descent with Warm Restarts", "ICLR 2017"),
    _w("loshchilov2019", "Loshchilov Hutter", 2019, "Decoupled Weight Decay Regularization",
       "ICLR 2019", note="AdamW"),
    _w("elman1990", "Elman", 1990, "Finding Structure in Time", "Cognitive Science 14(2)"),
    _w("bengio1994", "Bengio Simard Frasconi", 1994,
       "Learning Long-Term Dependencies with Gradient Descent is Difficult",
       "IEEE Transactions on Neural Networks 5(2)"),
    _w("hochreiter1997", "Hochreiter Schmidhuber", 1997, "Long Short-Term Memory",
       "Neural Computation 9(8)"),
    _w("gers2000", "Gers Schmidhuber Cummins", 2000,
       "Learning to Forget: Continual Prediction with LSTM", "Neural Computation 12(10)"),
    _w("maas2011", "Maas Daly Pham Huang Ng Potts", 2011,
       "Learning Word Vectors for Sentiment Analysis", "ACL 2011", note="the IMDB reviews"),
    _w("pascanu2013", "Pascanu Mikolov Bengio", 2013,
       "On the Difficulty of Training Recurrent Neural Networks", "ICML 2013"),
    _w("cho2014", "Cho Merriënboer Gulcehre Bahdanau Bougares Schwenk Bengio", 2014,
       "Learning Phrase Representations using RNN Encoder–Decoder for Statistical Machine "
        "Translation",
       "EMNLP 2014", note="the GRU"),
    _w("chung2014", "Chung Gulcehre Cho Bengio", 2014,
       "Empirical Evaluation of Gated Recurrent Neural Networks on Sequence Modeling",
       "NeurIPS 2014 Deep Learning workshop (arXiv:1412.3555)"),
    _w("jozefowicz2015", "Jozefowicz Zaremba Sutskever", 2015,
       "An Empirical Exploration of Recurrent Network Architectures", "ICML 2015"),
    _w("karpathy2015", "Karpathy Johnson Fei-Fei", 2015,
       "Visualizing and Understanding Recurrent Networks", "arXiv:1506.02078 (ICLR 2016 workshop)"),
    _w("greff2017", "Greff Srivastava Koutník Steunebrink Schmidhuber", 2017,
       "LSTM: A Search Space Odyssey", "IEEE Transactions on Neural Networks and Learning Systems"),
    _w("jang2017", "Jang Gu Poole", 2017, "Categorical Reparameterization with Gumbel-Softmax",
       "ICLR 2017",
       note="a differentiable relaxation of sampling from a categorical distribution, "
       "not a faster activation function; erratum 14"),
    # Decoding, fine-tuning, applications, serving (chapters 10–13)
    _w("holtzman2020", "Holtzman Buys Du Forbes Choi", 2020,
       "The Curious Case of Neural Text Degeneration", "ICLR 2020",
       note="nucleus (top-p) sampling"),
    _w("keskar2019", "Keskar McCann Varshney Xiong Socher", 2019,
       "CTRL: A Conditional Transformer Language Model for Controllable Generation",
       "arXiv:1909.05858", note="the repetition penalty"),
    _w("sundararajan2017", "Sundararajan Taly Yan", 2017, "Axiomatic Attribution for Deep Networks",
       "ICML 2017", note="integrated gradients"),
    _w("hu2022", "Hu Shen Wallis Allen-Zhu Li Wang Chen", 2022,
       "LoRA: Low-Rank Adaptation of Large Language Models", "ICLR 2022", preprint_year=2021),
    _w("rafailov2023", "Rafailov Sharma Mitchell Ermon Manning Finn", 2023,
       "Direct Preference Optimization: Your Language Model is Secretly a Reward Model",
       "NeurIPS 2023", note="DPO"),
    _w("bahdanau2015", "Bahdanau Cho Bengio", 2015,
       "Neural Machine Translation by Jointly Learning to Align and Translate", "ICLR 2015"),
    _w("lewis2020", "Lewis Liu Goyal Ghazvininejad Mohamed Levy Stoyanov Zettlemoyer", 2020,
       "BART: Denoising Sequence-to-Sequence Pre-training for Natural Language Generation, "
        "Translation, and Comprehension",
       "ACL 2020"),
    _w("papineni2002", "Papineni Roukos Ward Zhu", 2002,
       "BLEU: a Method for Automatic Evaluation of Machine Translation", "ACL 2002"),
    _w("lin2004", "Lin", 2004, "ROUGE: A Package for Automatic Evaluation of Summaries",
       "Text Summarization Branches Out (ACL 2004 workshop)"),
    _w("popovic2015", "Popović", 2015,
       "chrF: character n-gram F-score for automatic MT evaluation", "WMT 2015"),
    _w("rajpurkar2016", "Rajpurkar Zhang Lopyrev Liang", 2016,
       "SQuAD: 100,000+ Questions for Machine Comprehension of Text", "EMNLP 2016"),
    _w("carlini2021", "Carlini Tramèr Wallace Jagielski Herbert-Voss Lee Roberts Brown", 2021,
       "Extracting Training Data from Large Language Models", "USENIX Security 2021"),
    _w("carlini2023", "Carlini Ippolito Jagielski Lee Tramèr Zhang", 2023,
       "Quantifying Memorization Across Neural Language Models", "ICLR 2023"),
    _w("lee2022", "Lee Ippolito Nystrom Zhang Eck Callison-Burch Carlini", 2022,
       "Deduplicating Training Data Makes Language Models Better", "ACL 2022"),
    _w("rajpurkar2018", "Rajpurkar Jia Liang", 2018,
       "Know What You Don't Know: Unanswerable Questions for SQuAD", "ACL 2018"),
    _w("ji2023", "Ji Lee Frieske Yu Su Xu Ishii Bang Madotto Fung", 2023,
       "Survey of Hallucination in Natural Language Generation", "ACM Computing Surveys 55(12)"),
    _w("greshake2023", "Greshake Abdelnabi Mishra Endres Holz Fritz", 2023,
       "Not What You've Signed Up For: Compromising Real-World LLM-Integrated Applications with "
       "Indirect Prompt Injection", "AISec 2023 (ACM CCS workshop)"),
    _w("bender2021", "Bender Gebru McMillan-Major Shmitchell", 2021,
       "On the Dangers of Stochastic Parrots: Can Language Models Be Too Big?", "FAccT 2021"),
    _w("kwon2023", "Kwon Li Zhuang Sheng Zheng Yu Gonzalez Zhang Stoica", 2023,
       "Efficient Memory Management for Large Language Model Serving with PagedAttention",
       "SOSP 2023", note="vLLM"),
)
# fmt: on

_NAME = r"[A-Z][\w’'-]*[a-zß-ÿ][\w’'-]*"  # a capitalised surname (Fei-Fei, Popović)
_YEAR = r"((?:19|20)\d\d)\b"
_ET_AL = re.compile(rf"\b({_NAME})\s+et\s+al\.,?\s+\(?{_YEAR}")
_GROUP = re.compile(rf"\b({_NAME})\s+(?:&|and)\s+({_NAME}),?\s+\(?{_YEAR}")
_SINGLE = re.compile(rf"[(;]\s*({_NAME}),\s+{_YEAR}\s*[);]")


@dataclass(frozen=True)
class Citation:
    """One in-text citation: the names it gives and its year, as written."""

    names: tuple[str, ...]
    year: int
    text: str


def find_citations(text: str) -> list[Citation]:
    """Every in-text citation in ``text`` (the patterns are listed in the module docstring)."""
    found = []
    for pattern in (_ET_AL, _GROUP, _SINGLE):
        for match in pattern.finditer(text):
            *names, year = match.groups()
            found.append(Citation(tuple(names), int(year), " ".join(match.group(0).split())))
    return found


def resolve(citation: Citation, works: tuple[Work, ...] = WORKS) -> Work | None:
    """The listed work the citation names, or None when the list has no such work."""
    for work in works:
        if citation.year in work.years and all(n in work.authors for n in citation.names):
            return work
    return None


def to_markdown(works: tuple[Work, ...] = WORKS) -> str:
    """The reference list, sorted by first author and year, one bullet per work with an anchor."""
    ordered = sorted(works, key=lambda w: (w.authors[0].lower(), w.year, w.key))
    return "\n".join(f'- <a id="{w.key}"></a>{w.citation()}' for w in ordered)
