"""The words of the story world: every name, place, food and feeling, in English and Chinese.

Introduced in chapter 2. Each word is an :class:`Entry` with its surface forms in both languages
(``"an apple"`` / ``"一个苹果"``, ``"in the park"`` / ``"公园里"``), so the grammar in
:mod:`lmkit.data.story_grammar` never inflects anything itself: it only picks forms by name. The
same entry renders the English and the Chinese sentence, which is what makes the two stories
translations of each other. Entries are grouped into types (``TYPES["FOOD"]``, ``TYPES["CITY"]``),
the slot types of the sentence templates.

The tables are plain text, one entry per line, columns separated by ``|``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lmkit.errors import ConfigError, InputError


@dataclass(frozen=True, eq=False)
class Entry:
    """One word of the lexicon with its named surface forms in English (``en``) and Chinese (``zh``).

    ``label`` is ``"PER"``, ``"LOC"`` or ``"ORG"`` for named entities, else ``None``; ``attrs``
    holds what the story generator needs to know (gender, polarity, which places suit it).
    """

    key: str
    en: Mapping[str, str]
    zh: Mapping[str, str]
    label: str | None = None
    attrs: Mapping[str, object] = field(default_factory=dict)

    def form(self, lang: str, name: str = "n") -> str:
        """The surface form ``name`` in ``lang``."""
        return (self.en if lang == "en" else self.zh)[name]


def _rows(table: str) -> list[list[str]]:
    return [line.split("|") for line in table.strip().splitlines() if not line.startswith("#")]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


# ---------------------------------------------------------------- people
_NAMES = """
m|Xiaoming|小明
m|Tom|汤姆
m|Jack|杰克
m|Li Lei|李雷
m|Wang Qiang|王强
m|Zhang Wei|张伟
m|David|大卫
m|Peter|彼得
m|Sam|山姆
m|Bob|鲍勃
m|Mike|迈克
m|Daming|大明
m|Xiaogang|小刚
m|Liu Yang|刘洋
m|Chen Hao|陈浩
m|Henry|亨利
m|Kevin|凯文
m|Xiaolong|小龙
m|Dongdong|东东
m|Paul|保罗
m|Leo|里奥
m|Jason|杰森
m|Zhao Lei|赵磊
m|Sun Peng|孙鹏
f|Xiaohong|小红
f|Lucy|露西
f|Anna|安娜
f|Mary|玛丽
f|Alice|爱丽丝
f|Emma|艾玛
f|Lily|莉莉
f|Han Meimei|韩梅梅
f|Li Na|李娜
f|Wang Fang|王芳
f|Xiaoli|小丽
f|Lingling|玲玲
f|Sophie|苏菲
f|Kate|凯特
f|Linda|琳达
f|Amy|艾米
f|Zhou Jing|周静
f|Xiaoyu|小雨
f|Tingting|婷婷
f|Jenny|珍妮
f|Grace|格蕾丝
f|Helen|海伦
f|Chen Jing|陈静
f|Nini|妮妮
"""

# gender | en with "my" | kinship noun | zh
_FAMILY = """
m|my father|father|爸爸
f|my mother|mother|妈妈
m|my grandpa|grandpa|爷爷
f|my grandma|grandma|奶奶
m|my brother|brother|哥哥
f|my sister|sister|姐姐
m|my little brother|little brother|弟弟
f|my little sister|little sister|妹妹
m|my uncle|uncle|叔叔
f|my aunt|aunt|阿姨
"""

# key | en "a" form | zh noun | zh measure word | "kid" for children's roles
_ROLES = """
student|a student|学生|个|kid
teacher|a teacher|老师|位|
doctor|a doctor|医生|名|
nurse|a nurse|护士|名|
cook|a cook|厨师|名|
driver|a driver|司机|名|
farmer|a farmer|农民|位|
worker|a worker|工人|名|
painter|a painter|画家|位|
singer|a singer|歌手|名|
writer|a writer|作家|位|
police|a police officer|警察|名|
baker|a baker|面包师|名|
engineer|an engineer|工程师|名|
waiter|a waiter|服务员|名|
pilot|a pilot|飞行员|名|
postman|a mail carrier|邮递员|名|
scientist|a scientist|科学家|位|
reporter|a reporter|记者|名|
"""

# ---------------------------------------------------------------- places
# key | en n | en "in" | zh n | zh "in" | tags | animals one sees there
_PLACES = """
park|the park|in the park|公园|公园里|out|dog puppy cat kitten bird squirrel butterfly duck
zoo|the zoo|at the zoo|动物园|动物园里|out|panda elephant tiger monkey giraffe lion kangaroo bear
market|the market|at the market|市场|市场上|shop|cat dog hen
supermarket|the supermarket|at the supermarket|超市|超市里|shop|
library|the library|in the library|图书馆|图书馆里|in|
school|school|at school|学校|学校里|in|bird cat
beach|the beach|on the beach|海边|海边|out|seagull dog bird
river|the river|by the river|河边|河边|out|fish duck frog turtle goose
lake|the lake|by the lake|湖边|湖边|out|fish duck goose turtle frog
farm|the farm|on the farm|农场|农场里|out|cow horse pig sheep hen duck goose dog
garden|the garden|in the garden|花园|花园里|out|butterfly bird cat rabbit frog
forest|the forest|in the forest|森林|森林里|out|bird squirrel rabbit deer bear
mountains|the mountains|in the mountains|山上|山上|out|bird deer monkey squirrel
cinema|the cinema|at the cinema|电影院|电影院里|in|
museum|the museum|in the museum|博物馆|博物馆里|in|
hospital|the hospital|at the hospital|医院|医院里|in|
station|the train station|at the train station|火车站|火车站|in|pigeon
restaurant|the restaurant|at the restaurant|饭馆|饭馆里|eat|
bookstore|the bookstore|at the bookstore|书店|书店里|shop|
bakery|the bakery|at the bakery|面包店|面包店里|shop|
fruitshop|the fruit shop|at the fruit shop|水果店|水果店里|shop|
toyshop|the toy shop|at the toy shop|玩具店|玩具店里|shop|
playground|the playground|on the playground|操场|操场上|out|bird dog
square|the square|in the square|广场|广场上|out|pigeon dog
countryside|the countryside|in the countryside|乡下|乡下|out|cow sheep horse dog hen
"""

# key | en | zh | country or city
_LOCATIONS = """
beijing|Beijing|北京|cn
shanghai|Shanghai|上海|cn
guangzhou|Guangzhou|广州|cn
shenzhen|Shenzhen|深圳|cn
hangzhou|Hangzhou|杭州|cn
chengdu|Chengdu|成都|cn
nanjing|Nanjing|南京|cn
wuhan|Wuhan|武汉|cn
tianjin|Tianjin|天津|cn
qingdao|Qingdao|青岛|cn
suzhou|Suzhou|苏州|cn
harbin|Harbin|哈尔滨|cn
kunming|Kunming|昆明|cn
xiamen|Xiamen|厦门|cn
chongqing|Chongqing|重庆|cn
changsha|Changsha|长沙|cn
dalian|Dalian|大连|cn
lhasa|Lhasa|拉萨|cn
hongkong|Hong Kong|香港|cn
london|London|伦敦|world
paris|Paris|巴黎|world
tokyo|Tokyo|东京|world
newyork|New York|纽约|world
sydney|Sydney|悉尼|world
berlin|Berlin|柏林|world
moscow|Moscow|莫斯科|world
toronto|Toronto|多伦多|world
singapore|Singapore|新加坡|world
seoul|Seoul|首尔|world
cairo|Cairo|开罗|world
china|China|中国|country
japan|Japan|日本|country
france|France|法国|country
canada|Canada|加拿大|country
australia|Australia|澳大利亚|country
egypt|Egypt|埃及|country
italy|Italy|意大利|country
germany|Germany|德国|country
brazil|Brazil|巴西|country
india|India|印度|country
britain|Britain|英国|country
"""

# key | en | zh | what kind of organisation: school, shop, eat, work, visit
_ORGS = """
redstar|Red Star Primary School|红星小学|school work
sunshine_ms|Sunshine Middle School|阳光中学|school work
hope|Hope Primary School|希望小学|school work
greenhill|Green Hill School|青山学校|school work
sunbakery|Sunshine Bakery|阳光面包店|shop work visit
greenleaf|Green Leaf Bookstore|绿叶书店|shop work visit
startoys|Star Toy Shop|星星玩具店|shop work visit
pandamarket|Panda Supermarket|熊猫超市|shop work visit
goldenapple|Golden Apple Company|金苹果公司|work
bluesky|Blue Sky Airlines|蓝天航空公司|work
bigriver|Big River Bank|大河银行|work visit
riverside|Riverside Hospital|江边医院|work visit
morningstar|Morning Star Newspaper|晨星报社|work
swift|Swift Express|快马快递公司|work
happyfarm|Happy Farm|开心农场|work visit
moonlight|Moonlight Cinema|月光电影院|work visit
springtea|Spring Tea House|春天茶馆|eat work visit
ocean|Ocean Restaurant|海洋饭店|eat work visit
maple|Maple Hotel|枫叶酒店|work visit
eastlakezoo|East Lake Zoo|东湖动物园|work visit
citylib|City Library|城市图书馆|work visit
rainbow|Rainbow Kindergarten|彩虹幼儿园|work
luckynoodle|Lucky Noodle House|好运面馆|eat work visit
"""

# ---------------------------------------------------------------- animals and things
# key | en singular | en plural | zh noun | zh measure word | colours it may have
_ANIMALS = """
dog|dog|dogs|狗|只|white black brown yellow
puppy|puppy|puppies|小狗|只|white black brown yellow
cat|cat|cats|猫|只|white black gray orange
kitten|kitten|kittens|小猫|只|white black gray orange
bird|bird|birds|小鸟|只|blue yellow green
rabbit|rabbit|rabbits|兔子|只|white gray brown
duck|duck|ducks|鸭子|只|white yellow
fish|fish|fish|鱼|条|red orange
horse|horse|horses|马|匹|white black brown
cow|cow|cows|奶牛|头|
pig|pig|pigs|猪|头|pink
sheep|sheep|sheep|羊|只|white
hen|hen|hens|母鸡|只|brown white
goose|goose|geese|鹅|只|white
monkey|monkey|monkeys|猴子|只|
panda|panda|pandas|熊猫|只|
elephant|elephant|elephants|大象|头|
tiger|tiger|tigers|老虎|只|
lion|lion|lions|狮子|头|
giraffe|giraffe|giraffes|长颈鹿|只|
kangaroo|kangaroo|kangaroos|袋鼠|只|
bear|bear|bears|熊|只|brown black
frog|frog|frogs|青蛙|只|green
squirrel|squirrel|squirrels|松鼠|只|brown gray
butterfly|butterfly|butterflies|蝴蝶|只|yellow white blue
turtle|turtle|turtles|乌龟|只|
deer|deer|deer|小鹿|只|
seagull|seagull|seagulls|海鸥|只|white
pigeon|pigeon|pigeons|鸽子|只|white gray
"""

_COLORS = """
red|红色
blue|蓝色
green|绿色
yellow|黄色
white|白色
black|黑色
brown|棕色
gray|灰色
orange|橙色
pink|粉色
purple|紫色
"""

# key | en | zh | animals that do it
_ANIMAL_ACTS = """
sleep|was sleeping|在睡觉|*
run|was running around|在跑来跑去|dog puppy cat kitten rabbit horse squirrel pig hen deer
ball|was playing with a ball|在玩一个球|dog puppy cat kitten
grass|was eating grass|在吃草|cow sheep horse rabbit deer goose
bamboo|was eating bamboo|在吃竹子|panda
banana|was eating a banana|在吃香蕉|monkey
swim|was swimming|在游泳|fish duck goose turtle frog
sing|was singing|在唱歌|bird
fly|was flying in the sky|在天上飞|bird butterfly seagull pigeon
jump|was jumping around|在跳来跳去|frog kangaroo rabbit squirrel monkey
climb|was climbing a tree|在爬树|monkey squirrel cat kitten bear
drink|was drinking water|在喝水|dog puppy cat horse cow sheep deer elephant tiger lion giraffe
sun|was lying in the sun|在晒太阳|cat kitten dog turtle lion tiger
"""

_ANIMAL_ADJS = """
cute|cute|可爱
small|small|小
big|big|大
fat|fat|胖
clever|clever|聪明
lively|lively|活泼
quiet|quiet|安静
friendly|friendly|友好
hungry|hungry|饿
beautiful|beautiful|漂亮
"""

# key | en singular | en plural | zh | zh measure word | colours
_OBJECTS = """
book|book|books|书|本|red blue green yellow
pen|pen|pens|笔|支|black blue red
pencil|pencil|pencils|铅笔|支|yellow green
umbrella|umbrella|umbrellas|伞|把|red blue yellow black
hat|hat|hats|帽子|顶|red blue white black yellow
ball|ball|balls|球|个|red blue yellow
kite|kite|kites|风筝|个|red blue yellow green
schoolbag|schoolbag|schoolbags|书包|个|red blue pink black
cup|cup|cups|杯子|个|white blue
dress|dress|dresses|裙子|条|red white blue pink yellow purple
scarf|scarf|scarves|围巾|条|red gray purple
watch|watch|watches|手表|块|black
bike|bike|bikes|自行车|辆|red blue black
toycar|toy car|toy cars|玩具车|辆|red blue
doll|doll|dolls|洋娃娃|个|
box|box|boxes|盒子|个|red brown
notebook|notebook|notebooks|笔记本|本|blue green
key|key|keys|钥匙|把|
phone|phone|phones|手机|部|black white
camera|camera|cameras|相机|台|black
map|map|maps|地图|张|
sweater|sweater|sweaters|毛衣|件|red gray white blue
coat|coat|coats|外套|件|black brown
teddy|teddy bear|teddy bears|玩具熊|只|brown white
"""

# ---------------------------------------------------------------- food and drink
# key | en generic | en "a" form | zh | zh measure word | tags (count = can be counted)
_FOODS = """
apple|apples|an apple|苹果|个|fruit count
banana|bananas|a banana|香蕉|根|fruit count
orange|oranges|an orange|橙子|个|fruit count
pear|pears|a pear|梨|个|fruit count
peach|peaches|a peach|桃子|个|fruit count
watermelon|watermelons|a watermelon|西瓜|个|fruit count
mango|mangoes|a mango|芒果|个|fruit count
strawberry|strawberries|a strawberry|草莓|颗|fruit count
grape|grapes|a bunch of grapes|葡萄|串|fruit
cherry|cherries|a cherry|樱桃|颗|fruit
tomato|tomatoes|a tomato|西红柿|个|veg count
carrot|carrots|a carrot|胡萝卜|根|veg count
potato|potatoes|a potato|土豆|个|veg count
cucumber|cucumbers|a cucumber|黄瓜|根|veg count
egg|eggs|an egg|鸡蛋|个|count
bun|steamed buns|a steamed bun|包子|个|count
sandwich|sandwiches|a sandwich|三明治|个|count
bread|bread|a piece of bread|面包|块|
rice|rice|a bowl of rice|米饭|碗|
noodles|noodles|a bowl of noodles|面条|碗|
dumplings|dumplings|a plate of dumplings|饺子|盘|
cake|cake|a piece of cake|蛋糕|块|
cookie|cookies|a cookie|饼干|块|
icecream|ice cream|an ice cream|冰淇淋|个|
friedrice|fried rice|a plate of fried rice|炒饭|盘|
pizza|pizza|a slice of pizza|比萨|块|
chocolate|chocolate|a piece of chocolate|巧克力|块|
"""

# key | en | en "a" form | zh | zh "a" form
_DRINKS = """
milk|milk|a glass of milk|牛奶|一杯牛奶
tea|tea|a cup of tea|茶|一杯茶
water|water|a glass of water|水|一杯水
juice|juice|a glass of juice|果汁|一杯果汁
orangejuice|orange juice|a glass of orange juice|橙汁|一杯橙汁
coffee|coffee|a cup of coffee|咖啡|一杯咖啡
milktea|milk tea|a cup of milk tea|奶茶|一杯奶茶
hotchoc|hot chocolate|a cup of hot chocolate|热巧克力|一杯热巧克力
soymilk|soy milk|a glass of soy milk|豆浆|一杯豆浆
"""

_DISHES = """
noodles|a bowl of noodles|一碗面条
dumplings|a plate of dumplings|一盘饺子
friedrice|a plate of fried rice|一盘炒饭
soup|a bowl of soup|一碗汤
cake|a cake|一个蛋糕
porridge|a bowl of porridge|一碗粥
eggsoup|a bowl of tomato and egg soup|一碗西红柿鸡蛋汤
tomatoeggs|a plate of tomatoes and eggs|一盘西红柿炒鸡蛋
"""

# ---------------------------------------------------------------- doings and feelings
# key | en past | en infinitive | zh past | zh base | where it happens
_ACTS = """
football|played football|play football|踢了足球|踢足球|park playground school
basketball|played basketball|play basketball|打了篮球|打篮球|park playground school
pingpong|played table tennis|play table tennis|打了乒乓球|打乒乓球|park school home
kite|flew a kite|fly kites|放了风筝|放风筝|park beach square countryside
read|read a book|read books|看了一本书|看书|library home park garden
movie|watched a movie|watch movies|看了一部电影|看电影|cinema home
tv|watched TV|watch TV|看了电视|看电视|home
draw|drew a picture|draw pictures|画了一幅画|画画|park home school garden lake mountains beach
sing|sang a song|sing songs|唱了一首歌|唱歌|home school park
photo|took some photos|take photos|拍了一些照片|拍照|park zoo beach lake mountains garden square museum countryside river
letter|wrote a letter|write letters|写了一封信|写信|home
clean|cleaned the room|clean the room|打扫了房间|打扫房间|home
tree|planted a tree|plant trees|种了一棵树|种树|garden park countryside farm
piano|played the piano|play the piano|弹了钢琴|弹钢琴|home school
music|listened to music|listen to music|听了音乐|听音乐|home park
chess|played chess|play chess|下了棋|下棋|home park square
bike|rode a bike|ride a bike|骑了自行车|骑自行车|park countryside square river lake
bake|made a cake|make cakes|做了一个蛋糕|做蛋糕|home
dishes|washed the dishes|wash the dishes|洗了碗|洗碗|home
walk|took a walk|take walks|散了步|散步|park beach river lake garden square forest countryside
games|played games|play games|玩了游戏|玩游戏|home park playground school
ducks|fed the ducks|feed the ducks|喂了鸭子|喂鸭子|lake river park farm
climb|climbed a mountain|climb mountains|爬了山|爬山|countryside
flowers|watered the flowers|water the flowers|给花浇了水|给花浇水|garden home
cook|cooked dinner|cook|做了晚饭|做饭|home
english|studied English|study English|学习了英语|学习英语|school library home
math|did some math problems|do math problems|做了一些数学题|做数学题|school library home
dance|danced|dance|跳了舞|跳舞|school square home park
shells|collected shells|collect shells|捡了贝壳|捡贝壳|beach
fishing|caught a fish|go fishing|钓了一条鱼|钓鱼|river lake
sandcastle|built a sandcastle|build sandcastles|堆了一个沙堡|堆沙堡|beach
"""

# key | en | zh | valence (+, - or 0)
_FEELINGS = """
happy|happy|高兴|+
glad|glad|开心|+
excited|excited|兴奋|+
proud|proud|自豪|+
surprised|surprised|惊讶|0
sad|sad|难过|-
tired|tired|累|-
angry|angry|生气|-
worried|worried|担心|-
bored|bored|无聊|-
scared|scared|害怕|-
hungry|hungry|饿|-
thirsty|thirsty|渴|-
sleepy|sleepy|困|-
nervous|nervous|紧张|-
lonely|lonely|孤单|-
"""

# Degree words. "a little" / 有点 only goes with unpleasant things, which the generator respects.
_DEGREES = """
very|very|非常
really|really|真的很
so|so|特别
little|a little|有点
"""

# key | en clause | zh clause | good for going out?
_WEATHER = """
sunny|it was sunny|天气很好|good
warm|it was warm|天气很暖和|good
rain|it was raining|下雨了|bad
heavyrain|it was raining hard|下大雨了|bad
snow|it was snowing|下雪了|snow
windy|it was windy|风很大|bad
cold|it was cold|天气很冷|bad
hot|it was very hot|天气非常热|bad
foggy|it was foggy|雾很大|bad
"""

_DAYS = """
Monday|星期一
Tuesday|星期二
Wednesday|星期三
Thursday|星期四
Friday|星期五
Saturday|星期六
Sunday|星期天
"""

_PARTS = """
morning|早上
afternoon|下午
evening|晚上
"""

# key | en | zh | "start" if it only fits at the start of a sentence
# key | en | zh | "start" if it only fits at the start of a sentence | hour of the day, if known
_TIMES_EXTRA = """
yesterday|yesterday|昨天||
lastweekend|last weekend|上个周末||
thismorning|this morning|今天早上||8
thisafternoon|this afternoon|今天下午||15
thisevening|this evening|今天晚上||19
oneday|one day|有一天|start|
inmorning|in the morning|早上||8
inafternoon|in the afternoon|下午||15
inevening|in the evening|晚上||19
afterschool|after school|放学以后||16.5
afterlunch|after lunch|午饭以后||13
afterdinner|after dinner|晚饭以后||19.5
noon|at noon|中午||12
lastsummer|last summer|去年夏天||
lastwinter|last winter|去年冬天||
"""
_PART_HOURS = {"morning": 8, "afternoon": 15, "evening": 19}
_CLOCK_BASE = {"morning": 0, "afternoon": 12, "evening": 12}
_HOURS = (
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
)

# o'clock times: part of day | zh | en:zh hours
_CLOCK = (
    ("morning", "早上", "seven:七 eight:八 nine:九 ten:十 eleven:十一"),
    ("afternoon", "下午", "two:两 three:三 four:四 five:五"),
    ("evening", "晚上", "six:六 seven:七 eight:八 nine:九"),
)

_SEQUENCE = """
afterthat|after that|之后
later|later|后来
then|then|然后
soon|soon|很快
awhile|after a while|过了一会儿
"""

# how often: key | en | zh
_HABITS = """
everyday|every day|每天
everymorning|every morning|每天早上
everyevening|every evening|每天晚上
everyweekend|every weekend|每个周末
afterschool|every day after school|每天放学以后
sunday|every Sunday|每个星期天
saturday|every Saturday|每个星期六
monday|every Monday|每个星期一
friday|every Friday|每个星期五
breakfast|every day at breakfast|每天吃早饭的时候
"""

_SPOTS = """
bed|under the bed|床底下
table|on the table|桌子上
kitchen|in the kitchen|厨房里
door|behind the door|门后面
sofa|under the sofa|沙发下面
car|in the car|车里
chair|on the chair|椅子上
tree|under a tree|树下
"""

# key | en | zh | "travel" = also goes between cities, "far" = also abroad
_VEHICLES = """
bus|the bus|公交车|local travel
subway|the subway|地铁|local
taxi|a taxi|出租车|local
train|the train|火车|travel
boat|the boat|船|travel
plane|the plane|飞机|travel far
"""

_NUMBERS = """
two|两
three|三
four|四
five|五
six|六
seven|七
eight|八
nine|九
ten|十
"""

_AGES = """
five|五
six|六
seven|七
eight|八
nine|九
ten|十
eleven|十一
twelve|十二
"""

# ---------------------------------------------------------------- opinions (sentiment)
# category | en target | zh target
_TARGETS = """
story|the movie|这部电影
story|the book|这本书
story|the show|这场演出
story|the cartoon|这部动画片
story|the story|这个故事
story|the play|这场话剧
story|the game|这场比赛
music|the song|这首歌
music|the concert|这场音乐会
music|the album|这张专辑
music|the music|这段音乐
food|the cake|这块蛋糕
food|the pizza|这块比萨
food|the meal|这顿饭
food|the sandwich|这个三明治
food|the fried rice|这盘炒饭
food|the dish|这道菜
food|the bread|这个面包
drink|the coffee|这杯咖啡
drink|the tea|这杯茶
drink|the juice|这杯果汁
drink|the soup|这碗汤
drink|the milk tea|这杯奶茶
place|the hotel|这家酒店
place|the restaurant|这家饭馆
place|the park|这个公园
place|the room|这个房间
place|the cafe|这家咖啡馆
place|the museum|这个博物馆
place|the shop|这家商店
place|the zoo|这个动物园
"""

# categories | en | zh | polarity | zh when negated (default 不 + zh)
_OPINION_ADJS = """
story|good|好看|+|
story|interesting|有意思|+|没有意思
story|exciting|精彩|+|
story|funny|好笑|+|
story music|moving|感人|+|
story music|boring|无聊|-|
story music|long|长|-|
story music|bad|差|-|不错
music|beautiful|好听|+|
music|lively|欢快|+|
music place|noisy|吵|-|
food|delicious|好吃|+|
drink|delicious|好喝|+|
food drink|fresh|新鲜|+|
food drink place|cheap|便宜|+|
food|salty|咸|-|
food drink place|expensive|贵|-|
food drink|cold|凉|-|
food|terrible|难吃|-|
drink|terrible|难喝|-|
drink|bitter|苦|-|
food|dry|干|-|
place|clean|干净|+|
place|quiet|安静|+|
place|beautiful|漂亮|+|
place|comfortable|舒服|+|
place|dirty|脏|-|
place|small|小|-|
"""

# en | zh | polarity | has a degree word
_LIKES = """
liked|很喜欢|+|
really liked|非常喜欢|+|deg
loved|特别喜欢|+|deg
did not like|不喜欢|-|
did not really like|不太喜欢|-|deg
"""

OPINION_CATEGORIES = ("story", "music", "food", "drink", "place")


def _build() -> dict[str, tuple[Entry, ...]]:
    types: dict[str, list[Entry]] = {}

    def add(type_name: str, entry: Entry) -> None:
        types.setdefault(type_name, []).append(entry)

    for gender, en, zh in _rows(_NAMES):
        entry = Entry(en, {"n": en}, {"n": zh}, "PER", {"gender": gender})
        add("NAME", entry)
        add("NAME_" + gender.upper(), entry)
    for gender, en, kin, zh in _rows(_FAMILY):
        add(
            "FAMILY",
            Entry(kin, {"n": en, "kin": kin}, {"n": zh, "kin": zh}, None, {"gender": gender}),
        )
    for key, en_a, zh, measure, tag in _rows(_ROLES):
        add(
            "ROLE",
            Entry(
                key, {"a": en_a}, {"a": "一" + measure + zh, "n": zh}, None, {"kid": tag == "kid"}
            ),
        )
    home = Entry(
        "home", {"in": "at home"}, {"in": "家里"}, None, {"tags": ("home",), "animals": ()}
    )
    add("IN_PLACE", home)
    for key, en_n, en_in, zh_n, zh_in, tag, animals in _rows(_PLACES):
        entry = Entry(
            key,
            {"n": en_n, "in": en_in},
            {"n": zh_n, "in": zh_in},
            None,
            {"tags": (tag,), "animals": tuple(animals.split())},
        )
        add("PLACE", entry)
        add("IN_PLACE", entry)
        if tag == "shop":
            add("SHOP", entry)
    for key, en, zh, kind in _rows(_LOCATIONS):
        add("CITY", Entry(key, {"n": en}, {"n": zh}, "LOC", {"kind": kind}))
    for key, en, zh, tags in _rows(_ORGS):
        entry = Entry(key, {"n": en}, {"n": zh}, "ORG", {"tags": tuple(tags.split())})
        add("ORG", entry)
        for tag in tags.split():
            add(tag.upper() + "_ORG", entry)
    colors = {en: zh for en, zh in _rows(_COLORS)}
    for key, en, en_pl, zh, measure, hues in _rows(_ANIMALS):
        base = Entry(
            key,
            {"a": f"{_article(en)} {en}", "the": f"the {en}", "n": en, "pl": en_pl},
            {"a": f"一{measure}{zh}", "the": f"那{measure}{zh}", "n": zh, "cn": measure + zh},
            None,
            {"animal": key},
        )
        add("ANIMAL", base)
        add("ANP", base)
        for hue in hues.split():
            phrase_en, phrase_zh = f"{hue} {en}", f"{colors[hue]}的{zh}"
            add(
                "ANP",
                Entry(
                    f"{hue}_{key}",
                    {
                        "a": f"{_article(hue)} {phrase_en}",
                        "the": f"the {phrase_en}",
                        "n": phrase_en,
                    },
                    {
                        "a": f"一{measure}{phrase_zh}",
                        "the": f"那{measure}{phrase_zh}",
                        "n": phrase_zh,
                    },
                    None,
                    {"animal": key, "color": hue},
                ),
            )
    for key, en, zh, animals in _rows(_ANIMAL_ACTS):
        add("ANIMAL_ACT", Entry(key, {"n": en}, {"n": zh}, None, {"animals": animals.split()}))
    for key, en, zh in _rows(_ANIMAL_ADJS):
        add("ANIMAL_ADJ", Entry(key, {"n": en}, {"n": zh}))
    for key, en, en_pl, zh, measure, hues in _rows(_OBJECTS):
        add(
            "THING",
            Entry(
                key,
                {"a": f"{_article(en)} {en}", "n": en, "pl": en_pl},
                {"a": f"一{measure}{zh}", "n": zh},
                None,
                {"object": key},
            ),
        )
        for hue in hues.split():
            phrase_en, phrase_zh = f"{hue} {en}", f"{colors[hue]}的{zh}"
            add(
                "THING",
                Entry(
                    f"{hue}_{key}",
                    {"a": f"{_article(hue)} {phrase_en}", "n": phrase_en},
                    {"a": f"一{measure}{phrase_zh}", "n": phrase_zh},
                    None,
                    {"object": key, "color": hue},
                ),
            )
    for key, en_pl, en_a, zh, measure, tags in _rows(_FOODS):
        entry = Entry(
            key,
            {"pl": en_pl, "a": en_a, "some": "some " + en_pl},
            {"n": zh, "a": "一" + measure + zh, "some": "一些" + zh, "cn": measure + zh},
            None,
            {"tags": tuple(tags.split())},
        )
        add("FOOD", entry)
        for tag in tags.split():
            add(tag.upper(), entry)
    for key, en, en_a, zh, zh_a in _rows(_DRINKS):
        add("DRINK", Entry(key, {"n": en, "a": en_a}, {"n": zh, "a": zh_a}))
    for key, en_a, zh_a in _rows(_DISHES):
        add("DISH", Entry(key, {"a": en_a}, {"a": zh_a}))
    for key, past, inf, zh_past, zh_base, places in _rows(_ACTS):
        add(
            "ACT",
            Entry(
                key,
                {"past": past, "inf": inf},
                {"past": zh_past, "base": zh_base},
                None,
                {"places": tuple(places.split())},
            ),
        )
    for key, en, zh, valence in _rows(_FEELINGS):
        add("FEEL", Entry(key, {"n": en}, {"n": zh}, None, {"valence": valence}))
    for key, en, zh in _rows(_DEGREES):
        add("DEG", Entry(key, {"n": en}, {"n": zh}))
    for key, en, zh, kind in _rows(_WEATHER):
        add("WEATHER", Entry(key, {"n": en}, {"n": zh}, None, {"kind": kind}))
    days, parts = _rows(_DAYS), _rows(_PARTS)
    times = [(d.lower(), f"on {d}", zh, "", "") for d, zh in days]
    times += [
        (f"{d}_{p}".lower(), f"on {d} {p}", zh + pzh, "", _PART_HOURS[p])
        for d, zh in days
        for p, pzh in parts
    ]
    times += [(f"last_{d}".lower(), f"last {d}", "上个" + zh, "", "") for d, zh in days]
    times += [
        (f"yesterday_{p}", f"yesterday {p}", "昨天" + pzh, "", _PART_HOURS[p]) for p, pzh in parts
    ]
    times += [tuple(row) for row in _rows(_TIMES_EXTRA)]
    for part, zh_part, hours in _CLOCK:
        for hour in hours.split():
            en_hour, zh_hour = hour.split(":")
            at = _CLOCK_BASE[part] + _HOURS.index(en_hour) + 1
            times.append(
                (
                    f"{en_hour}_{part}",
                    f"at {en_hour} in the {part}",
                    zh_part + zh_hour + "点",
                    "",
                    at,
                )
            )
    for key, en, zh, where, hour in times:
        attrs = {
            "start_only": where == "start",
            "hour": float(hour) if hour != "" else None,
            # moves a story on within its day: "in the evening", "at seven in the evening"
            "later": key.startswith(("in", "afterl", "afterd", "noon"))
            or key.split("_")[0] in _HOURS,
        }
        entry = Entry(key, {"n": en}, {"n": zh}, None, attrs)
        add("TIME", entry)
        if where != "start":
            add("TIME_END", entry)
    for name, table in (("SEQ", _SEQUENCE), ("SPOT", _SPOTS), ("HABIT", _HABITS)):
        for key, en, zh in _rows(table):
            add(name, Entry(key, {"n": en}, {"n": zh}))
    for key, en, zh, tags in _rows(_VEHICLES):
        entry = Entry(key, {"n": en}, {"n": zh}, None, {"tags": tuple(tags.split())})
        for tag in tags.split():
            if tag in ("local", "travel"):
                add(tag.upper() + "_VEHICLE", entry)
    for name, table in (("NUM", _NUMBERS), ("AGE", _AGES)):
        for en, zh in _rows(table):
            add(name, Entry(en, {"n": en}, {"n": zh}))
    for cat, en, zh in _rows(_TARGETS):
        add("TARGET_" + cat, Entry(en, {"n": en}, {"n": zh}, None, {"category": cat}))
    for cats, en, zh, pol, zh_neg in _rows(_OPINION_ADJS):
        for cat in cats.split():
            add(
                "ADJ_" + cat,
                Entry(
                    en,
                    {"n": en},
                    {"n": zh, "neg": zh_neg or "不" + zh},
                    None,
                    {"polarity": 1 if pol == "+" else 0, "category": cat},
                ),
            )
    for en, zh, pol, deg in _rows(_LIKES):
        add(
            "LIKE",
            Entry(
                en,
                {"n": en},
                {"n": zh},
                None,
                {"polarity": 1 if pol == "+" else 0, "negated": pol == "-", "degree": deg == "deg"},
            ),
        )
    return {name: tuple(entries) for name, entries in types.items()}


TYPES: dict[str, tuple[Entry, ...]] = _build()
"""Every slot type of the grammar and its entries, e.g. ``TYPES["FRUIT"]``."""


_ENTITY_TYPES = {"PER": "NAME", "LOC": "CITY", "ORG": "ORG"}


def _entity_type(label: object) -> str:
    if label not in _ENTITY_TYPES:
        raise ConfigError(f"label must be 'PER', 'LOC' or 'ORG', got {label!r}.")
    return _ENTITY_TYPES[label]  # type: ignore[index]


def entity_strings(label: str, lang: str) -> frozenset[str]:
    """All surface strings of named entities with ``label`` (``"PER"``, ``"LOC"``, ``"ORG"``)."""
    type_name = _entity_type(label)
    if lang not in ("en", "zh"):
        raise ConfigError(f"lang must be 'en' or 'zh', got {lang!r}.")
    return frozenset(e.form(lang) for e in TYPES[type_name])


def translate_entity(text: str, label: str) -> str:
    """The Chinese surface string of the English entity ``text`` (looked up in the lexicon)."""
    for entry in TYPES[_entity_type(label)]:
        if entry.en["n"] == text:
            return entry.zh["n"]
    raise InputError(f"{text!r} is not a {label} entity of the story world's lexicon.")


__all__ = ["OPINION_CATEGORIES", "TYPES", "Entry", "entity_strings", "translate_entity"]
